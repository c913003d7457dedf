"""__NAME__: reads the request body on stdin and answers with JSON on stdout."""
import json
import sys

body = sys.stdin.read()
json.dump({"function": "__NAME__", "message": "Hello from __NAME__", "received": body}, sys.stdout)
sys.stdout.write("\n")
