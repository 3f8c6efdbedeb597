#!/usr/bin/env python3
"""Write the offline JSON schemas kubeconform validates deploy/kubernetes against.

Inputs (both fetched by generate.sh through the ordinary package clients):
  --k8s-dir   a "<version>-local-strict" folder of the PyPI package kubernetes-validate:
              one schema per kind whose $refs point into a shared _definitions.json
  --crd       a CustomResourceDefinition, repeatable: KEDA's ScaledObject and
              TriggerAuthentication (config/crd/bases in the kedacore/keda Go module),
              prometheus-operator's ServiceMonitor (example/prometheus-operator-crd in
              the prometheus-operator Go module)

Outputs, in kubeconform's -schema-location layout:
  <out>/<version>-standalone-strict/<kind>-<group>-<version>.json
      the kind's schema with only the definitions it reaches copied in under $defs
      ("standalone": no reference leaves the file, so nothing is fetched)
  <out>/crds/<group>/<kind>_<version>.json (e.g. keda.sh/scaledobject_v1alpha1.json)
      the CRD's openAPIV3Schema, made strict the way the API server prunes: every
      object with declared properties and no x-kubernetes-preserve-unknown-fields
      gets additionalProperties: false

Descriptions are dropped to keep the files small; they take no part in validation.
"""
import argparse
import json
import os
import re
import sys

import yaml

K8S_KINDS = [
    "statefulset-apps-v1",
    "deployment-apps-v1",
    "horizontalpodautoscaler-autoscaling-v2",
    "service-v1",
    "configmap-v1",
    "poddisruptionbudget-policy-v1",
    "namespace-v1",
    "networkpolicy-networking-v1",
]
DEF_REF = re.compile(r"^(?:/api/_definitions\.json)?#/\$defs/(.+)$")


def strip_descriptions(node):
    if isinstance(node, dict):
        return {k: strip_descriptions(v) for k, v in node.items() if k != "description" or not isinstance(v, str)}
    if isinstance(node, list):
        return [strip_descriptions(v) for v in node]
    return node


def local_refs(node, found):
    """Rewrite every $ref to a local #/$defs/ one and collect the names."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                m = DEF_REF.match(v)
                if not m:
                    sys.exit(f"unexpected $ref {v!r}")
                found.add(m.group(1))
                out[k] = "#/$defs/" + m.group(1)
            else:
                out[k] = local_refs(v, found)
        return out
    if isinstance(node, list):
        return [local_refs(v, found) for v in node]
    return node


def standalone(kind_schema, defs):
    needed = set()
    root = local_refs(kind_schema, needed)
    closure = {}
    todo = list(needed)
    while todo:
        name = todo.pop()
        if name in closure:
            continue
        more = set()
        closure[name] = local_refs(defs[name], more)
        todo.extend(more - closure.keys())
    root.pop("$id", None)  # an https $id would make relative refs resolve online
    root["$defs"] = dict(sorted(closure.items()))
    return strip_descriptions(root)


def strict_crd(node):
    if isinstance(node, dict):
        out = {k: strict_crd(v) for k, v in node.items()}
        if out.get("x-kubernetes-int-or-string"):
            out.pop("type", None)
            out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [strict_crd(v) for v in node]
    return node


def write(path, doc):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote", path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--k8s-dir", required=True)
    ap.add_argument("--k8s-version", required=True)
    ap.add_argument("--crd", required=True, action="append")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    with open(os.path.join(a.k8s_dir, "_definitions.json")) as f:
        defs = json.load(f)["$defs"]
    for kind in K8S_KINDS:
        with open(os.path.join(a.k8s_dir, kind + ".json")) as f:
            schema = json.load(f)
        write(os.path.join(a.out, f"{a.k8s_version}-standalone-strict", kind + ".json"), standalone(schema, defs))

    for path in a.crd:
        with open(path) as f:
            crd = yaml.safe_load(f)
        assert crd["kind"] == "CustomResourceDefinition", crd["kind"]
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for v in crd["spec"]["versions"]:
            schema = strict_crd(strip_descriptions(v["schema"]["openAPIV3Schema"]))
            schema["$schema"] = "http://json-schema.org/draft-04/schema#"
            # apiVersion and kind are free strings in a CRD; pin them like the built-in kinds.
            schema["properties"]["apiVersion"]["enum"] = [f"{group}/{v['name']}"]
            schema["properties"]["kind"]["enum"] = [kind]
            write(os.path.join(a.out, "crds", group, f"{kind.lower()}_{v['name']}.json"), schema)


if __name__ == "__main__":
    main()
