#!/bin/sh
# Test fixture for exec mode: what the program does depends on the request path.
case "$Http_Path" in
  /env)
    printf 'method=%s path=%s query=%s call=%s type=%s custom=%s\n' \
      "$Http_Method" "$Http_Path" "$Http_Query" "$X_Call_Id" "$Http_Content_Type" "$Http_X_Custom"
    cat ;;
  /fail)
    echo "something went wrong" >&2
    exit 3 ;;
  /hang)
    sleep 1000 &
    echo $! > "$PID_DIR/$X_Call_Id.sleep"
    echo $$ > "$PID_DIR/$X_Call_Id.sh"
    wait ;;
  /selfkill)
    kill -9 $$ ;;
  *)
    cat ;;
esac
