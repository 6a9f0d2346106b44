# Generates percent_python.json, the table of TestPercentFlags_MatchPython: Python's own
# results of printf-style % formatting with flags, widths and precisions.
#   python3 runtime/testdata/percent_python.py > runtime/testdata/percent_python.json
import json
cases = []
ints = ["0", "5", "-5", "42", "-42", "255", "-255", "123456789", "12345678901234567890123", "-7"]
for v in ints:
    for f in ["%05d", "%5d", "%-5d|", "%+d", "% d", "%+05d", "%.3d", "%08.3d", "%-08d|", "% 06d", "%3i", "%06u",
              "%x", "%#x", "%#08x", "%08x", "%-#8x|", "%X", "%#X", "%#010X", "%o", "%#o", "%#8o", "%.4x", "%+#x"]:
        cases.append((f, v))
# Only conversions with flags, widths or precisions: without them, % is go.starlark.net's
# (whose %g is the shortest text of the float, not Python's six digits).
floats = ["0.0", "-0.0", "3.14159", "-3.14159", "2.5", "1e6", "1e-5", "123456789.0", "0.5", "-1.5e-10", "1e22", "float('inf')", "-float('inf')", "float('nan')", "2"]
for v in floats:
    for f in ["%.2f", "%08.3f", "%-10.1f|", "%+.0f", "% f", "%10f", "%010.2f", "%.3e", "%012.4E", "%+e", "%.3g", "%10.4g", "%-9.2G|", "%.0g", "%.1F", "%05.1f", "%+08.2f", "%.10f", "%.0e"]:
        cases.append((f, v))
# Strings: repr differs between Python ('a') and Starlark ("a"), so %r only of the others.
for v in ["'ab'", "'héllo'", "''", "'x'", "None", "True", "3"]:
    for f in ["%5s|", "%-5s|", "%.2s|", "%05s|", "%7.3s|"]:
        cases.append((f, v))
for v in ["None", "True", "3", "-1.5"]:
    for f in ["%5r|", "%-6r|", "%.3r|"]:
        cases.append((f, v))
for v in ["65", "'é'", "0x1F600"]:
    for f in ["%3c|", "%-3c|", "%c"]:
        cases.append((f, v))
multi = [
    ("%05d-%s-%.2f", "(7, 'x', 2.345)"),
    ("No. %06d / %-4s| %5.1f%%", "(42, 'ab', 99.95)"),
    ("%(n)05d %(s)-3s|", "{'n': 12, 's': 'q'}"),
    ("%(a)+.1e", "{'a': 12345.678}"),
    ("%-5d%05d", "(1, 2)"),
    ("%5d", "(True,)"),
    ("%.2f", "(7,)"),
    ("%3d|%-3d|", "(False, True)"),
]
cases += multi
out = []
for f, a in cases:
    try:
        r = f % eval(a)
        out.append({"format": f, "args": a, "want": r})
    except Exception as e:
        out.append({"format": f, "args": a, "error": type(e).__name__ + ": " + str(e)})
print(json.dumps(out, ensure_ascii=False, indent=0))
