#!/usr/bin/env python3
# Parses deploy/windows/*.ps1 with tree-sitter-powershell and applies the rules of
# check-deploy.sh: ASCII only, #Requires, strict mode, no aliases, approved verbs, every change
# guarded by ShouldProcess, no undefined variables.
# Run by scripts/check-deploy.sh.
import re, sys
import tree_sitter as ts, tree_sitter_powershell as tsp

parser = ts.Parser(ts.Language(tsp.language()))
APPROVED = set("""Add Clear Close Copy Enter Exit Find Format Get Hide Join Lock Move New Open
Optimize Pop Push Redo Remove Rename Reset Resize Search Select Set Show Skip Split Step Switch
Undo Unlock Watch Connect Disconnect Read Receive Send Write Backup Checkpoint Compare Compress
Convert ConvertFrom ConvertTo Dismount Edit Expand Export Group Import Initialize Limit Merge
Mount Out Publish Restore Save Sync Unpublish Update Approve Assert Build Complete Confirm Deny
Deploy Disable Enable Install Invoke Register Request Restart Resume Start Stop Submit Suspend
Uninstall Unregister Wait Debug Measure Ping Repair Resolve Test Trace Block Grant Protect
Revoke Unblock Unprotect Use""".split())
# Core cmdlets whose verbs predate the approved list.
CORE_VERBS = {"ForEach", "Where", "Sort", "Tee"}
# Commands that change the machine: each must run only when $PSCmdlet.ShouldProcess agreed, so
# that -WhatIf changes nothing.
MUTATING = {"copy-item", "new-item", "remove-item", "move-item", "rename-item", "set-item",
            "set-content", "add-content", "out-file", "set-acl", "register-scheduledtask",
            "unregister-scheduledtask", "start-scheduledtask", "stop-scheduledtask",
            "set-scheduledtask", "icacls.exe", "start-process", "set-itemproperty",
            "new-itemproperty", "remove-itemproperty"}
AUTOMATIC = {"_", "true", "false", "null", "psscriptroot", "pscmdlet", "lastexitcode",
             "erroractionpreference", "psboundparameters", "args", "input", "this",
             "verbosepreference", "confirmpreference", "whatifpreference", "pshome", "host",
             "psitem", "matches", "error"}

def text(src, n):
    return src[n.start_byte:n.end_byte].decode()

def walk(n):
    yield n
    for c in n.children:
        yield from walk(c)

failed = False
for path in sys.argv[1:]:
    errs = []
    src = open(path, "rb").read()
    try:
        src.decode("ascii")
    except UnicodeDecodeError as e:
        # Windows PowerShell 5.1 reads a file without BOM in the ANSI code page (CP932 on a
        # Japanese PC): any non-ASCII byte would be garbled.
        errs.append(f"non-ASCII byte at offset {e.start}")
    tree = parser.parse(src)
    for n in walk(tree.root_node):
        if n.type == "ERROR" or n.is_missing:
            errs.append(f"line {n.start_point[0] + 1}: syntax error near "
                        f"{text(src, n)[:60]!r}")
    head = src.decode(errors="replace").splitlines()[:5]
    for req in ("#Requires -RunAsAdministrator", "#Requires -Version 5.1"):
        if req not in head:
            errs.append(f"{req} missing from the first lines")
    body = src.decode(errors="replace")
    for needle, why in (
        ("[CmdletBinding(SupportsShouldProcess = $true", "CmdletBinding(SupportsShouldProcess) for -WhatIf"),
        ("Set-StrictMode -Version", "Set-StrictMode"),
        ("$ErrorActionPreference = 'Stop'", "$ErrorActionPreference = 'Stop'"),
    ):
        if needle not in body:
            errs.append(f"missing {why}")

    functions = {}   # lower-case name -> node
    for n in walk(tree.root_node):
        if n.type == "function_statement":
            name = next(c for c in n.children if c.type == "function_name")
            functions[text(src, name).lower()] = n
            verb = text(src, name).split("-")[0]
            if "-" not in text(src, name) or verb not in APPROVED:
                errs.append(f"function {text(src, name)}: not Verb-Noun with an approved verb")

    def guarded(node, seen=()):
        """True when node runs only inside an `if (...ShouldProcess(...))` block, directly or
        through functions that are themselves only called so."""
        p = node.parent
        while p is not None:
            if p.type == "if_statement" or p.type in ("elseif_clause",):
                cond = next((c for c in p.children if c.type == "pipeline"), None)
                if cond is not None and "ShouldProcess(" in text(src, cond) and \
                        node.start_byte > cond.end_byte:
                    return True
            if p.type == "function_statement":
                fname = text(src, next(c for c in p.children if c.type == "function_name")).lower()
                if fname in seen:
                    return False
                calls = [c for c in commands if c[0] == fname]
                return bool(calls) and all(guarded(c[1], seen + (fname,)) for c in calls)
            p = p.parent
        return False

    commands = []
    for n in walk(tree.root_node):
        if n.type == "command":
            name = next((c for c in n.children if c.type == "command_name"), None)
            if name is None:
                continue
            commands.append((text(src, name).lower(), n))
    for cname, n in commands:
        line = n.start_point[0] + 1
        if cname in functions:
            continue
        if cname.endswith(".exe"):
            pass
        elif not re.fullmatch(r"[A-Za-z]+-[A-Za-z0-9]+", cname) or \
                cname.split("-")[0] not in {v.lower() for v in APPROVED | CORE_VERBS}:
            errs.append(f"line {line}: {cname!r} is an alias or not a cmdlet name; "
                        "use the full Verb-Noun name")
        if cname in MUTATING and not guarded(n):
            errs.append(f"line {line}: {cname} changes the machine outside "
                        "$PSCmdlet.ShouldProcess (breaks -WhatIf)")

    # Variables: each one read must be a parameter, assigned, a foreach variable or automatic.
    defined = set(AUTOMATIC)
    for n in walk(tree.root_node):
        if n.type == "script_parameter":
            v = next((c for c in n.children if c.type == "variable"), None)
            if v is not None:
                defined.add(text(src, v)[1:].lower())
        if n.type == "left_assignment_expression":
            for c in walk(n):
                if c.type == "variable":
                    defined.add(text(src, c)[1:].lower())
                    break
        if n.type == "foreach_statement":
            v = next((c for c in n.children if c.type == "variable"), None)
            if v is not None:
                defined.add(text(src, v)[1:].lower())
    for n in walk(tree.root_node):
        if n.type == "variable":
            name = text(src, n)[1:].lower()
            name = name.strip("{}")
            if name.startswith(("env:", "script:", "global:")) or name in defined:
                continue
            errs.append(f"line {n.start_point[0] + 1}: ${name} is never assigned")
    # Accounts by SID: names are localized (Japanese Windows has no "Administrators" group).
    for n in walk(tree.root_node):
        if n.type in ("string_literal", "expandable_string_literal"):
            m = re.fullmatch(r"""['"](NT AUTHORITY\\SYSTEM|(BUILTIN\\)?Administrators|SYSTEM|Users)['"]""",
                             text(src, n))
            if m:
                errs.append(f"line {n.start_point[0] + 1}: account named {m.group(1)!r}: use its SID")
    errs = list(dict.fromkeys(errs))
    for e in errs:
        print(f"  {path}: {e}", file=sys.stderr)
    failed = failed or bool(errs)
    if not errs:
        print(f"   {path.split('/')[-1]}: ok ({len(commands)} commands, {len(functions)} functions)")
sys.exit(1 if failed else 0)
