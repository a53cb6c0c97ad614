"""Words the world generator draws from: studios, clients, jobs, tasks, mail and money."""

from __future__ import annotations

FIRST_NAMES = (
    "Amara", "Ben", "Chloe", "Dev", "Elena", "Farah", "Gus", "Hana", "Isaac", "Jonah", "Kiri",
    "Lena", "Malik", "Nina", "Owen", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Viktor",
    "Wren", "Yusuf", "Zoe", "Aroha", "Callum", "Dita", "Emeka", "Freya", "Ines", "Luca", "Mei",
    "Niamh", "Oskar", "Ravi", "Saoirse", "Theo", "Ana", "Marco",
)
LAST_NAMES = (
    "Adeyemi", "Brennan", "Castillo", "Dubois", "Eriksen", "Fraser", "Galloway", "Hughes", "Ivanova",
    "Jensen", "Kowalski", "Lindqvist", "Mensah", "Nakamura", "O'Connell", "Patel", "Quaid", "Rossi",
    "Sato", "Tane", "Underwood", "Varga", "Whitfield", "Xu", "Yilmaz", "Zielinski", "Morrow",
    "Okafor", "Henare", "Shah", "Calloway", "Finch",
)

STUDIO_KINDS = {
    "architecture": {
        "names": ("{a} & {b} Architects", "Studio {a}", "{a} {b} Architecture", "Atelier {a}"),
        "jobs": (
            "rear extension", "loft conversion", "townhouse refurbishment", "office fit-out",
            "boathouse", "community hall", "barn conversion", "mews house", "school library",
            "café interior", "riverside apartments", "garden studio",
        ),
        "phases": ("Brief", "Concept design", "Developed design", "Planning", "Technical design", "On site"),
        "tasks": (
            "Measured survey", "Site photographs", "Client brief workshop", "Concept sketches",
            "Massing options", "Sun-path study", "Planning drawings", "Heritage statement",
            "Submit planning application", "Structural engineer review", "Building regs package",
            "Tender pack", "Review contractor bids", "Site visit", "Door and window schedule",
            "Lighting layout", "Snagging list", "Practical completion walkthrough", "Fee proposal",
            "Party wall notices", "Materials samples", "Update cost plan",
        ),
        "fees": (1800, 24000),
        "suppliers": (
            ("Northbank Structural Engineers", "engineering"), ("Printworks Reprographics", "printing"),
            ("Quantum Surveyors", "surveying"), ("ModelCraft Studio", "model making"),
            ("Vectorworks Licences", "software"),
        ),
    },
    "interiors": {
        "names": ("{a} Interiors", "House of {a}", "{a} & {b} Design", "Studio {a} Interiors"),
        "jobs": (
            "penthouse styling", "hotel lobby", "restaurant fit-out", "family kitchen", "boutique retail",
            "show apartment", "bar refurbishment", "spa suite", "co-working floor", "clinic waiting room",
        ),
        "phases": ("Brief", "Mood & concept", "Specification", "Procurement", "Installation"),
        "tasks": (
            "Mood board", "Measure rooms", "Furniture plan", "Lighting scheme", "Sample box",
            "Joinery drawings", "Fabric schedule", "Order samples", "Client presentation",
            "Procurement tracker", "Confirm lead times", "Install day plan", "Styling shoot",
            "Snag walkthrough", "Finishes schedule", "Budget update",
        ),
        "fees": (900, 14000),
        "suppliers": (
            ("Loomhouse Textiles", "fabrics"), ("Harrow Joinery", "joinery"), ("Lux Lighting Co", "lighting"),
            ("Crate & Courier", "logistics"), ("Pigment Paint Supply", "paint"),
        ),
    },
    "brand": {
        "names": ("{a} & {b}", "Studio {a}", "{a} Creative", "Fieldwork {a}"),
        "jobs": (
            "brand identity", "packaging range", "website redesign", "annual report", "wayfinding system",
            "campaign launch", "menu and signage", "exhibition graphics", "type specimen", "book design",
        ),
        "phases": ("Discovery", "Concepts", "Refinement", "Artwork", "Launch"),
        "tasks": (
            "Kick-off workshop", "Competitor audit", "Moodboards", "Logo concepts", "Colour palette",
            "Type pairing", "Brand guidelines", "Mockups", "Copy deck", "Print proofs",
            "Press check", "Asset handover", "Social templates", "Photography brief", "Launch plan",
            "Final artwork",
        ),
        "fees": (1000, 9000),
        "suppliers": (
            ("Ink & Press Printers", "printing"), ("Foundry Type Licensing", "fonts"),
            ("Shutter Photography", "photography"), ("Adobe Creative Cloud", "software"),
            ("Packhaus Prototypes", "prototyping"),
        ),
    },
}

COMPANY_WORDS = (
    "Marlow", "Brightwater", "Tidewell", "Harbourside", "Kestrel", "Ashgrove", "Saltmarsh", "Copperleaf",
    "Redwood", "Northfield", "Bellweather", "Greenhithe", "Larkspur", "Ironbridge", "Meridian", "Oakhurst",
    "Silverline", "Foxglove", "Wildmoor", "Cobalt", "Juniper", "Lantern", "Pinecrest", "Rookery",
    "Sandpiper", "Thornbury", "Westbay", "Quarry", "Elmstead", "Driftwood",
)
COMPANY_SUFFIXES = (
    "Property Group", "Hotels", "Brewing Co", "Developments", "Trust", "Dental", "Foods", "Estates",
    "Wines", "Schools", "Holdings", "Bakery", "Gallery", "Fitness", "Coffee Roasters",
)
PERSONAL_DOMAINS = ("gmail.com", "outlook.com", "icloud.com")

COUNTRIES = (
    {"code": "GB", "currency": "GBP", "tld": "co.uk", "tax": 0.20, "tz": "GMTSTANDARDTIME", "city": "London"},
    {"code": "NZ", "currency": "NZD", "tld": "co.nz", "tax": 0.15, "tz": "NEWZEALANDSTANDARDTIME", "city": "Wellington"},
    {"code": "AU", "currency": "AUD", "tld": "com.au", "tax": 0.10, "tz": "AUSEASTERNSTANDARDTIME", "city": "Melbourne"},
    {"code": "US", "currency": "USD", "tld": "com", "tax": 0.0, "tz": "EASTERNSTANDARDTIME", "city": "Brooklyn"},
    {"code": "IE", "currency": "EUR", "tld": "ie", "tax": 0.23, "tz": "GMTSTANDARDTIME", "city": "Dublin"},
)
FOREIGN_CURRENCIES = ("EUR", "USD", "GBP")

ROLES = ("Director", "Associate", "Designer", "Project architect", "Studio manager", "Junior designer")

# Mail: subjects and bodies. {project}, {job}, {client}, {first}, {studio}, {date}, {amount} are filled in.
THREAD_SUBJECTS = (
    "{project}: revised drawings", "{project} — site visit {day}?", "Fee proposal for the {job}",
    "{project}: planning update", "Quick question about the {job}", "{project}: samples arrived",
    "Invoice for the {job}", "{project}: programme and next steps", "Feedback on concept options",
    "{project}: budget check", "Photos from site", "{project}: contractor questions",
)
CLIENT_LINES = (
    "Thanks for sending these over, {first}. We had a look as a family and have a few questions.",
    "Could we move the meeting to {day}? Something came up on our side.",
    "We love the second option — can you tell us what it would do to the budget?",
    "The contractor asked whether the drawings are final. Can you confirm?",
    "Just checking where we are with the invoice — our accounts team needs it by Friday.",
    "Is there anything you need from us before the next stage?",
    "Apologies for the slow reply, we've been travelling. Happy to proceed.",
    "The samples look great. Could we see one more in a warmer tone?",
    "Our lender wants an updated cost estimate. Could you send one this week?",
    "Following up on my last email — any news from the council?",
)
STUDIO_LINES = (
    "Hi {first}, please find the updated drawings attached. The main change is on the first floor.",
    "Thanks {first} — {day} works for us. We'll bring the sample boards.",
    "Good news: the planning officer came back positively. Formal decision expected soon.",
    "Attached is our invoice for this stage. Let us know if you have any questions.",
    "We've spoken to the engineer and have a solution that keeps the open plan.",
    "Here is a short summary of where we are and what's next.",
    "Quick reminder that we need your decision on finishes by the end of the week.",
    "Thanks for the feedback — we'll fold it into the next round.",
)
NEWSLETTERS = (
    ("Dezeen Daily", "dezeen.com", "Today on Dezeen: timber towers and a floating sauna"),
    ("RIBA Journal", "ribaj.com", "This week: procurement, fees and a new housing award"),
    ("Material Bank", "materialbank.com", "New samples from 40 brands this month"),
    ("Eye on Design", "aiga.org", "The posters we can't stop looking at"),
    ("Canva", "canva.com", "Your weekly design digest"),
)
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")

INVOICE_LINES = (
    "Stage fees — {phase}", "Deposit (30%) — {job}", "Design fees — {phase}", "Site visits and meetings",
    "Additional design services", "Printing and presentation boards", "Final account — {job}",
)
