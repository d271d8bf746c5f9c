"""Query strings (webhook tokens, signatures) never reach a log line."""

import logging

from service.core.logs import configure_logging, redact_query_strings


def test_urls_and_paths_keep_their_path_and_lose_their_query():
    assert redact_query_strings("to https://h.example.com/in?token=s3cret failed") == "to https://h.example.com/in?… failed"
    assert redact_query_strings('"GET /jobs?cursor=abc HTTP/1.1" 200') == '"GET /jobs?… HTTP/1.1" 200'
    assert redact_query_strings("no url here? fine") == "no url here? fine"


def test_a_logged_webhook_url_is_redacted(capsys):
    configure_logging("json")
    logging.getLogger("ganforge.test").warning("POST to %s failed", "https://hooks.example.com/x?token=s3cret")
    line = capsys.readouterr().err
    assert "s3cret" not in line and "https://hooks.example.com/x?" in line
