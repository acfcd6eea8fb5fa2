#!/usr/bin/env python3
"""The operations table and api/openapi.yaml describe the same API.

Run by `make check` with COLIBRID (absolute path of the built daemon) and
COLIBRI_SRCDIR (absolute source directory) in the environment; both fall
back to the tree this file sits in.  Standard library plus PyYAML (Debian:
python3-yaml); without PyYAML the test is skipped (exit 77).

Checks, each listing every difference it finds:
  - every operation name is noun.verb, and names are unique;
  - every operation of the table is in the spec at its (method, path) with
    operationId equal to its name, and every spec operation is in the table;
    an operation without a path (events.subscribe: served on the socket
    only) is "local" and is not in the spec;
  - summaries are equal;
  - the path parameters of each spec operation are exactly the {..} of its
    path, and are required;
  - the arguments (path + query + JSON body, If-Match for version) are the
    table's arguments with the same constraints and required set;
  - each operation documents its success status, its problem responses as
    application/problem+json with the shared Problem schema, and the
    security the table says (only "open" operations have security: []);
  - api/schemas/*.json are current (tools/gen_schemas.py --check).
"""

import copy
import json
import os
import re
import subprocess
import sys
import unittest

try:
    import yaml
except ImportError:
    print("SKIP: PyYAML is not installed (Debian: apt-get install "
          "python3-yaml)")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("COLIBRI_SRCDIR") or os.path.dirname(
    os.path.dirname(HERE))
COLIBRID = os.environ.get("COLIBRID") or os.path.join(SRCDIR, "colibrid")
SPEC_PATH = os.path.join(SRCDIR, "api", "openapi.yaml")

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch",
           "trace")
# Keywords that describe rather than constrain: not compared.
ANNOTATIONS = {"description", "example", "examples", "title", "format",
               "default", "deprecated", "readOnly", "writeOnly", "$comment",
               "$schema"}
PROBLEM_REF = "#/components/schemas/Problem"


def load_ops():
    out = subprocess.run([COLIBRID, "--print-ops"], check=True,
                         stdout=subprocess.PIPE).stdout
    return json.loads(out)


def load_spec():
    with open(SPEC_PATH, encoding="utf-8") as f:
        return yaml.safe_load(f)


def report(title, problems):
    return "%s (%d):\n  %s" % (title, len(problems), "\n  ".join(problems))


class Spec:
    """api/openapi.yaml with local $ref resolution."""

    def __init__(self, doc):
        self.doc = doc

    def target(self, ref):
        if not ref.startswith("#/"):
            raise ValueError("only local references are supported: %s" % ref)
        node = self.doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[part]
        return node

    def deref(self, node, depth=0):
        """node with every $ref replaced by its target (siblings win)."""
        if depth > 50:
            raise ValueError("$ref loop")
        if isinstance(node, list):
            return [self.deref(n, depth + 1) for n in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            base = copy.deepcopy(self.deref(self.target(node["$ref"]),
                                            depth + 1))
            for k, v in node.items():
                if k != "$ref":
                    base[k] = self.deref(v, depth + 1)
            return base
        return {k: self.deref(v, depth + 1) for k, v in node.items()}

    def operations(self):
        """{(METHOD, path): operation} with path-level parameters merged."""
        ops = {}
        for path, item in (self.doc.get("paths") or {}).items():
            shared = item.get("parameters", [])
            for method in METHODS:
                if method not in item:
                    continue
                op = dict(item[method])
                params = {}
                for p in shared + op.get("parameters", []):
                    p = self.deref(p)
                    params[(p.get("name"), p.get("in"))] = p
                op["parameters"] = list(params.values())
                ops[(method.upper(), path)] = op
        return ops


def strip_annotations(schema):
    if isinstance(schema, list):
        return [strip_annotations(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    return {k: strip_annotations(v) for k, v in schema.items()
            if k not in ANNOTATIONS}


class OpenApiTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.ops = load_ops()
        cls.spec = Spec(load_spec())
        cls.spec_ops = cls.spec.operations()
        # Operations without a path exist on local transports only.
        cls.table = {(o["method"], o["path"]): o for o in cls.ops
                     if o.get("path") is not None}
        cls.local_only = [o for o in cls.ops if o.get("path") is None]

    def matched(self):
        """Pairs (table op, spec op) present on both sides."""
        for key, op in sorted(self.table.items()):
            if key in self.spec_ops:
                yield op, self.spec_ops[key]

    # --- names and presence ------------------------------------------

    def test_names_are_noun_verb_and_unique(self):
        problems = []
        seen = set()
        for op in self.ops:
            if not NAME_RE.match(op["name"]):
                problems.append("table: %r is not of the form noun.verb "
                                "(lower case, [a-z0-9_])" % op["name"])
            if op["name"] in seen:
                problems.append("table: %s appears twice" % op["name"])
            seen.add(op["name"])
        seen = {}
        for (method, path), sop in sorted(self.spec_ops.items()):
            oid = sop.get("operationId")
            if oid is None:
                problems.append("spec: %s %s has no operationId"
                                % (method, path))
                continue
            if not NAME_RE.match(oid):
                problems.append("spec: operationId %r of %s %s is not of the "
                                "form noun.verb" % (oid, method, path))
            if oid in seen:
                problems.append("spec: operationId %s is used by %s and by "
                                "%s %s" % (oid, seen[oid], method, path))
            seen[oid] = "%s %s" % (method, path)
        if problems:
            self.fail(report("operation names", problems))

    def test_every_table_operation_is_in_the_spec(self):
        problems = []
        for (method, path), op in sorted(self.table.items()):
            sop = self.spec_ops.get((method, path))
            if sop is None:
                problems.append("%s: %s %s is missing from api/openapi.yaml"
                                % (op["name"], method, path))
            elif sop.get("operationId") != op["name"]:
                problems.append("%s: %s %s has operationId %r in the spec"
                                % (op["name"], method, path,
                                   sop.get("operationId")))
        if problems:
            self.fail(report("table operations not (or wrongly) in the spec",
                             problems))

    def test_every_table_operation_is_in_the_api_docs(self):
        """docs/api.md's endpoint table has a row for each operation with
        a path (method, path, name, success status), and a section that
        names it."""
        with open(os.path.join(SRCDIR, "docs", "api.md"),
                  encoding="utf-8") as f:
            doc = f.read()
        problems = []
        for (method, path), op in sorted(self.table.items()):
            row = "| %s | `%s` | `%s` | %d |" % (method, path, op["name"],
                                                 op["status"])
            if row not in doc:
                problems.append("%s: no row %r" % (op["name"], row))
            if "### %s %s — `%s`" % (method, path, op["name"]) not in doc:
                problems.append("%s: no section '### %s %s — `%s`'"
                                % (op["name"], method, path, op["name"]))
        if problems:
            self.fail(report("operations missing from docs/api.md",
                             problems))

    def test_operations_without_a_path_are_local_and_not_in_the_spec(self):
        problems = []
        ids = {sop.get("operationId") for sop in self.spec_ops.values()}
        for op in self.local_only:
            if "local" not in op["flags"]:
                problems.append("%s has no path but is not flagged local"
                                % op["name"])
            if op.get("method") is not None:
                problems.append("%s has a method (%s) but no path"
                                % (op["name"], op["method"]))
            if op["name"] in ids:
                problems.append("%s is in api/openapi.yaml, which has no "
                                "place for a path-less operation"
                                % op["name"])
        if problems:
            self.fail(report("path-less operations", problems))

    def test_every_spec_operation_is_in_the_table(self):
        problems = []
        names = {o["name"]: o for o in self.ops}
        for (method, path), sop in sorted(self.spec_ops.items()):
            oid = sop.get("operationId")
            if (method, path) in self.table:
                continue
            hint = ""
            if oid in names:
                hint = " (the table has %s at %s %s)" % (
                    oid, names[oid]["method"], names[oid]["path"])
            problems.append("%s %s (operationId %s) is not in the operations "
                            "table%s" % (method, path, oid, hint))
        if problems:
            self.fail(report("spec operations not in the table", problems))

    def test_summaries_match(self):
        problems = []
        for op, sop in self.matched():
            if sop.get("summary") != op["summary"]:
                problems.append("%s: table %r, spec %r"
                                % (op["name"], op["summary"],
                                   sop.get("summary")))
        if problems:
            self.fail(report("summaries differ", problems))

    # --- arguments -----------------------------------------------------

    def test_path_parameters_match_the_path(self):
        problems = []
        for (method, path), sop in sorted(self.spec_ops.items()):
            in_path = set(re.findall(r"\{([^}]+)\}", path))
            declared = {p.get("name") for p in sop["parameters"]
                        if p.get("in") == "path"}
            for name in sorted(in_path - declared):
                problems.append("%s %s: {%s} has no path parameter"
                                % (method, path, name))
            for name in sorted(declared - in_path):
                problems.append("%s %s: path parameter %s is not in the path"
                                % (method, path, name))
            for p in sop["parameters"]:
                if p.get("in") == "path" and p.get("required") is not True:
                    problems.append("%s %s: path parameter %s must have "
                                    "required: true"
                                    % (method, path, p.get("name")))
        if problems:
            self.fail(report("path parameters", problems))

    def spec_arguments(self, sop, flags=()):
        """({name: schema}, required names, problems) of a spec operation."""
        args, required, problems = {}, set(), []
        if_match = False

        def add(name, schema, where):
            if name in args:
                problems.append("argument %s is declared twice (%s and %s)"
                                % (name, args[name][1], where))
                return
            args[name] = (schema, where)

        for p in sop["parameters"]:
            where = p.get("in")
            if where == "header":
                if p.get("name", "").lower() == "if-match":
                    if_match = True
                continue
            if where not in ("path", "query"):
                continue
            add(p["name"], self.spec.deref(p.get("schema", {})), where)
            if where == "path" or p.get("required"):
                required.add(p["name"])
        body = sop.get("requestBody")
        if body is not None:
            body = self.spec.deref(body)
            content = body.get("content", {})
            # An "ndjson" op also takes its events as raw JSON lines.
            allowed = {"application/json"}
            if "ndjson" in flags:
                allowed.add("application/x-ndjson")
            if set(content) - allowed or "application/json" not in content:
                problems.append("requestBody must have exactly one content "
                                "type, application/json (has %s)"
                                % sorted(content))
            schema = content.get("application/json", {}).get("schema", {})
            if schema.get("type") != "object":
                problems.append("requestBody schema must be an object")
            if schema.get("additionalProperties") is not False:
                problems.append("requestBody schema must say "
                                "additionalProperties: false (unknown "
                                "arguments are refused)")
            for name, s in (schema.get("properties") or {}).items():
                add(name, s, "body")
            required |= set(schema.get("required", []))
        # If-Match is another way to give "version" (never a required one).
        if if_match and "version" not in args:
            args["version"] = (None, "If-Match")
        return args, required, problems

    def test_arguments_match_the_table(self):
        problems = []
        for op, sop in self.matched():
            want = op["input_schema"].get("properties", {})
            want_required = set(op["input_schema"].get("required", []))
            got, got_required, errs = self.spec_arguments(sop, op["flags"])
            problems += ["%s: %s" % (op["name"], e) for e in errs]
            for name in sorted(set(want) - set(got)):
                problems.append("%s: argument %s is missing from the spec"
                                % (op["name"], name))
            for name in sorted(set(got) - set(want)):
                problems.append("%s: the spec has argument %s (%s), which the "
                                "table does not" % (op["name"], name,
                                                    got[name][1]))
            for name in sorted(set(want) & set(got)):
                schema, where = got[name]
                if schema is None:      # If-Match: a string header
                    continue
                a = strip_annotations(want[name])
                b = strip_annotations(schema)
                if a != b:
                    problems.append("%s: argument %s (%s) differs:\n"
                                    "      table %s\n      spec  %s"
                                    % (op["name"], name, where,
                                       json.dumps(a, sort_keys=True),
                                       json.dumps(b, sort_keys=True)))
            only_spec = sorted(got_required - want_required)
            only_table = sorted(want_required - got_required)
            if only_spec or only_table:
                problems.append("%s: required arguments differ: table %s, "
                                "spec %s" % (op["name"],
                                             sorted(want_required),
                                             sorted(got_required)))
        if problems:
            self.fail(report("arguments differ", problems))

    # --- responses and security ------------------------------------------

    def test_responses(self):
        problems = []
        for op, sop in self.matched():
            responses = sop.get("responses") or {}
            codes = {str(k) for k in responses}
            ok = str(op["status"])
            if ok not in codes:
                problems.append("%s: success status %s is not documented "
                                "(spec has %s)" % (op["name"], ok,
                                                   sorted(codes)))
            else:
                content = self.spec.deref(responses[ok]).get("content")
                if op["status"] == 204 and content:
                    problems.append("%s: 204 must have no content"
                                    % op["name"])
                if op["status"] != 204 and not content:
                    problems.append("%s: %s has no content" % (op["name"],
                                                               ok))
            for code in sorted(codes):
                if code.startswith("2"):
                    if code != ok:
                        problems.append("%s: documents %s, but its success "
                                        "status is %s" % (op["name"], code,
                                                          ok))
                    continue
                raw = responses[code] if code in responses else \
                    responses[int(code)]
                content = (self.spec.deref(raw).get("content") or {})
                problem = content.get("application/problem+json")
                if set(content) != {"application/problem+json"} or \
                        problem is None:
                    problems.append("%s: %s must be application/problem+json "
                                    "only (has %s)" % (op["name"], code,
                                                       sorted(content)))
                    continue
                ref = self.ref_of(raw, "application/problem+json")
                if ref != PROBLEM_REF:
                    problems.append("%s: %s must use the shared Problem "
                                    "schema (%s), not %s"
                                    % (op["name"], code, PROBLEM_REF, ref))
            is_open = "open" in op["flags"]
            if is_open and "401" in codes:
                problems.append("%s needs no token but documents 401"
                                % op["name"])
            if not is_open and "401" not in codes:
                problems.append("%s needs the token but does not document 401"
                                % op["name"])
            if "403" not in codes:
                problems.append("%s does not document 403 (Host check)"
                                % op["name"])
        if problems:
            self.fail(report("responses", problems))

    def ref_of(self, response, media):
        """The $ref of a response's schema, following response $refs."""
        while "$ref" in response:
            response = self.spec.target(response["$ref"])
        schema = response["content"][media].get("schema", {})
        return schema.get("$ref")

    def test_security(self):
        problems = []
        doc = self.spec.doc
        schemes = (doc.get("components") or {}).get("securitySchemes") or {}
        bearer = schemes.get("bearerAuth") or {}
        if bearer.get("type") != "http" or bearer.get("scheme") != "bearer":
            problems.append("components.securitySchemes.bearerAuth must be "
                            "type: http, scheme: bearer")
        if doc.get("security") != [{"bearerAuth": []}]:
            problems.append("the global security must be [{bearerAuth: []}]")
        for op, sop in self.matched():
            is_open = "open" in op["flags"]
            sec = sop.get("security")
            if is_open and sec != []:
                problems.append("%s needs no token: it must say security: []"
                                % op["name"])
            if not is_open and sec is not None and not sec:
                problems.append("%s needs the token but says security: []"
                                % op["name"])
        if problems:
            self.fail(report("security", problems))

    # --- generated schemas ---------------------------------------------

    def test_schemas_are_current(self):
        tool = os.path.join(SRCDIR, "tools", "gen_schemas.py")
        outdir = os.path.join(SRCDIR, "api", "schemas")
        run = subprocess.run([sys.executable, tool, COLIBRID, outdir,
                              "--check"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT,
                             universal_newlines=True)
        if run.returncode != 0:
            self.fail("api/schemas is not current (run `make schemas`):\n"
                      + run.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
