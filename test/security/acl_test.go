package security

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamscore/streamscore/internal/doctest"
)

// TestDocumentedACLsAreTheBrokers: the service users of the secured broker
// hold exactly the ACLs that docs/operations.md ("ACLs") lists for their
// delivery mode, nothing more, so TestStream proves that list is enough.
func TestDocumentedACLsAreTheBrokers(t *testing.T) {
	rows := documentedACLs(t)
	for _, d := range []deployment{alos, eos} {
		t.Run(d.delivery, func(t *testing.T) {
			want := expandACLs(t, rows, d)
			got := brokerACLs(t, "User:"+d.user)
			if !slices.Equal(got, want) {
				t.Errorf("User:%s holds\n  %s\nthe docs list for %s\n  %s", d.user, strings.Join(got, "\n  "), d.delivery, strings.Join(want, "\n  "))
			}
			t.Logf("User:%s: %d ACLs, as documented", d.user, len(got))
		})
	}
}

// aclRow is one row of the table in docs/operations.md.
type aclRow struct{ delivery, resource, name, pattern, ops string }

func documentedACLs(t *testing.T) []aclRow {
	t.Helper()
	section := doctest.Section(t, filepath.Join(repoRoot, "docs", "operations.md"), "### ACLs")
	var rows []aclRow
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(strings.Trim(line, "| "), "|")
		if len(cells) < 5 {
			continue
		}
		for i := range cells {
			cells[i] = strings.Trim(strings.TrimSpace(cells[i]), "`")
		}
		switch cells[0] {
		case "both", "at-least-once", "exactly-once":
			rows = append(rows, aclRow{cells[0], cells[1], cells[2], cells[3], cells[4]})
		}
	}
	if len(rows) < 5 {
		t.Fatalf("docs/operations.md ACL table: %d rows parsed, want the 5 or more it has", len(rows))
	}
	return rows
}

// expandACLs is the documented rows for d's mode with the configured
// names, one "Type name pattern OPERATION" string per operation, sorted.
func expandACLs(t *testing.T, rows []aclRow, d deployment) []string {
	t.Helper()
	names := strings.NewReplacer("<input.topic>", d.input, "<output.topic>", d.output, "<dlq.topic>", d.dlq, "<input.group>", d.grp)
	var out []string
	for _, r := range rows {
		if r.delivery != "both" && r.delivery != d.delivery {
			continue
		}
		typ, err := kmsg.ParseACLResourceType(r.resource)
		if err != nil {
			t.Fatalf("docs ACL row %+v: %v", r, err)
		}
		pat, err := kmsg.ParseACLResourcePatternType(r.pattern)
		if err != nil {
			t.Fatalf("docs ACL row %+v: %v", r, err)
		}
		for _, o := range strings.Split(r.ops, ",") {
			op, err := kmsg.ParseACLOperation(strings.TrimSpace(o))
			if err != nil {
				t.Fatalf("docs ACL row %+v: %v", r, err)
			}
			out = append(out, aclString(typ, names.Replace(r.name), pat, op))
		}
	}
	slices.Sort(out)
	return out
}

func aclString(typ kmsg.ACLResourceType, name string, pat kmsg.ACLResourcePatternType, op kmsg.ACLOperation) string {
	return fmt.Sprintf("%s %s %s %s", typ, name, pat, op)
}

// brokerACLs lists the principal's ACLs on the broker (all allow: the
// scripts create no deny ACL), sorted.
func brokerACLs(t *testing.T, principal string) []string {
	t.Helper()
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType = kmsg.ACLResourceTypeAny
	req.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
	req.Principal = kmsg.StringPtr(principal)
	req.Operation = kmsg.ACLOperationAny
	req.PermissionType = kmsg.ACLPermissionTypeAny
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, admin(t))
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		t.Fatalf("describe ACLs of %s: %v", principal, err)
	}
	var out []string
	for _, r := range resp.Resources {
		for _, a := range r.ACLs {
			if a.PermissionType != kmsg.ACLPermissionTypeAllow || a.Host != "*" {
				t.Errorf("%s: unexpected ACL %+v on %s %s", principal, a, r.ResourceType, r.ResourceName)
			}
			out = append(out, aclString(r.ResourceType, r.ResourceName, r.ResourcePatternType, a.Operation))
		}
	}
	slices.Sort(out)
	return out
}
