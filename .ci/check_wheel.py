"""check_wheel.py WHEEL: a manylinux tag, and no shared library outside its policy.

Every library an ELF file in the wheel needs (DT_NEEDED) must be in the
manylinux policy's whitelist (libc, libm, ...) or shipped inside the wheel
(auditwheel repair puts them in twolayer.libs/). Reads auditwheel's own policy file.
"""

import io
import json
import re
import sys
import zipfile
from pathlib import Path

import auditwheel
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

wheel = Path(sys.argv[1])
match = re.search(r"-(manylinux_\d+_\d+)_(\w+)\.whl$", wheel.name)
assert match, f"{wheel.name}: not a manylinux wheel"
policy_name = match.group(1)
policy_file = Path(auditwheel.__file__).parent / "policy" / "manylinux-policy.json"
policies = json.loads(policy_file.read_text())
allowed = set(next(p for p in policies if p["name"] == policy_name)["lib_whitelist"])

with zipfile.ZipFile(wheel) as archive:
    names = archive.namelist()
    shipped = {Path(n).name for n in names if ".libs/" in n and not n.endswith("/")}
    problems = []
    for name in names:
        data = archive.read(name)
        if not data.startswith(b"\x7fELF"):
            continue
        dynamic = ELFFile(io.BytesIO(data)).get_section_by_name(".dynamic")
        needed = [t.needed for t in dynamic.iter_tags() if t.entry.d_tag == "DT_NEEDED"] \
            if isinstance(dynamic, DynamicSection) else []
        outside = [lib for lib in needed if lib not in allowed and lib not in shipped]
        print(f"{name}: needs {', '.join(needed)}")
        problems += [f"{name} needs {lib}" for lib in outside]
assert not problems, "libraries outside the policy " + policy_name + ": " + "; ".join(problems)
assert shipped, "no library vendored (the OpenMP runtime should be)"
print(f"{wheel.name}: every needed library is in the {policy_name} policy or in the wheel "
      f"({', '.join(sorted(shipped))})")
