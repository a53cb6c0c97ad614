COPY staged ({{ columns | join(', ') }}) FROM STDIN
