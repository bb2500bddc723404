"""The ceiling of ``bench/http.py``: a bare Flask app answering a constant JSON body, served
under the same gunicorn settings as the registry (``gunicorn --chdir bench ceiling:app``)."""

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/")
def constant():
    """The cheapest JSON answer Flask gives."""
    return jsonify({"id": 1, "name": "ceiling", "status": "accredited"})
