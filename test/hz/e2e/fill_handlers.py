#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Fills generated handlers in as a user would: after the line `  <Type> resp;` of each named
# handler, inserts the given statements (each line marked "// filled in", which hz update must
# keep). Statements are separated by " @@ ".
#   fill_handlers.py <handler.cc> <Handler> '<statement> @@ <statement>' [<Handler> '...' ...]
import re
import sys

path, pairs = sys.argv[1], sys.argv[2:]
text = open(path).read()
for name, body in zip(pairs[0::2], pairs[1::2]):
    m = re.search(r"^void " + re.escape(name) + r"\(khz::RequestContext& ctx\) \{\n(?:.*\n)*?  \S+ resp;\n", text, re.M)
    if not m:
        sys.exit(f"fill_handlers: no handler {name} with a resp in {path}")
    lines = "".join(f"  {line.strip()}  // filled in\n" for line in body.split("@@") if line.strip())
    text = text[: m.end()] + lines + text[m.end():]
open(path, "w").write(text)
