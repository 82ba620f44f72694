from flask import Flask, jsonify

app = Flask(__name__)
application = app


@app.route("/")
def index():
    return jsonify(message="Hello, World!", items=list(range(10)))
