from flask import Flask, request
import subprocess
app = Flask(__name__)

@app.route("/version")
def version():
    fmt = request.args.get("fmt", "short")
    out = subprocess.run(["git", "log", "-1", "--format=%h"], capture_output=True, text=True).stdout
    return {"version": out.strip(), "fmt": fmt}
