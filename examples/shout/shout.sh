#!/bin/sh
# shout: an exec-mode program. Reads the request body on stdin and writes it back in upper case.
tr '[:lower:]' '[:upper:]'
