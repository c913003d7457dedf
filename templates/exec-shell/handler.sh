#!/bin/sh
# __NAME__: reads the request body on stdin and answers on stdout. A non-zero exit is a failed call.
body=$(cat)
printf 'Hello from __NAME__; received %s bytes\n' "$(printf '%s' "$body" | wc -c | tr -d ' ')"
