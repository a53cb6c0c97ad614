"""/healthz and /metrics: per-check status an operator can act on, and counts by route template."""

from __future__ import annotations

from api import create_app
from sylo.appdb import AppDB
from sylo.settings import Settings


def test_healthz_reports_each_check(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"export_dir", "app_db"}
    assert all(check["status"] == "ok" for check in body["checks"].values())


def test_healthz_checks_redis_when_configured(deployment, redis_url):
    settings = deployment.settings.model_copy(update={"redis_url": redis_url})
    client = create_app(settings, deployment.appdb).test_client()
    assert client.get("/healthz").get_json()["checks"]["redis"]["status"] == "ok"


def test_healthz_fails_with_a_reason_and_no_secrets(tmp_path):
    settings = Settings(data_dir=tmp_path, redis_url="redis://:hunter2@127.0.0.1:1/0", _env_file=None)
    appdb = AppDB.from_settings(settings)
    client = create_app(settings, appdb).test_client()
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "failing"
    assert body["checks"]["redis"]["status"] == "failing" and body["checks"]["redis"]["error"]
    assert body["checks"]["app_db"]["status"] == "ok"
    assert "hunter2" not in response.get_data(as_text=True)


def test_metrics_count_requests_by_route_template(client, deployment):
    headers = deployment.headers(deployment.users[0])
    client.get("/v1/context/all.md", headers=headers)
    client.get("/v1/context/nothing.md", headers=headers)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'sylo_http_requests_total{method="GET",route="/v1/context/<name>",status="200"}' in text
    assert 'sylo_http_requests_total{method="GET",route="/v1/context/<name>",status="404"}' in text
    assert "sylo_http_request_duration_seconds_bucket" in text
    assert "all.md" not in text  # route templates, never raw paths: bounded label sets


def test_unknown_methods_and_routes_share_one_label_each(client):
    for index in range(5):
        client.open("/v1/context", method=f"BREW{index}")
        client.open(f"/no/such/route/{index}", method=f"PROPFIND{index}")
    text = client.get("/metrics").get_data(as_text=True)
    assert "BREW" not in text and "PROPFIND" not in text and "/no/such" not in text
    assert 'method="other",route="unmatched",status="405"' in text
    assert 'method="other",route="unmatched",status="404"' in text
