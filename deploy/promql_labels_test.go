package deploy_test

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

// The checks in this file follow the labels through a query: a `by`, `on`
// or `group_left` label, a legend's {{label}} and an annotation's
// $labels.x must be a label the series under it carry, or the query
// silently folds everything into one series (or prints the template
// literally). histogram_quantile needs `le`; rate, irate and increase take
// counters only, delta and deriv anything but.

// labelSet is what an expression's result carries; nil: not known.
type labelSet map[string]bool

// outLabels returns the labels of e's result and appends to problems what
// does not fit (problems may be nil when only the labels are wanted).
func (c catalogue) outLabels(e parser.Node, problems *[]string) labelSet {
	report := func(format string, args ...any) {
		if problems != nil {
			*problems = append(*problems, fmt.Sprintf(format, args...))
		}
	}
	need := func(have labelSet, what string, labels ...string) {
		for _, l := range labels {
			if have != nil && !have[l] {
				report("%s %q: the series under it have no such label (they have %v)", what, l, sortedKeys(have))
			}
		}
	}
	switch n := e.(type) {
	case *parser.VectorSelector:
		info, ok := c[n.Name]
		if !ok || info.labels == nil {
			return nil
		}
		return maps.Clone(info.labels)
	case *parser.MatrixSelector:
		return c.outLabels(n.VectorSelector, problems)
	case *parser.SubqueryExpr:
		return c.outLabels(n.Expr, problems)
	case *parser.ParenExpr:
		return c.outLabels(n.Expr, problems)
	case *parser.UnaryExpr:
		return c.outLabels(n.Expr, problems)
	case *parser.StepInvariantExpr:
		return c.outLabels(n.Expr, problems)
	case *parser.NumberLiteral, *parser.StringLiteral:
		return labelSet{}
	case *parser.Call:
		return c.callLabels(n, problems, need, report)
	case *parser.AggregateExpr:
		in := c.outLabels(n.Expr, problems)
		if n.Param != nil {
			c.outLabels(n.Param, problems)
		}
		switch {
		case n.Op == parser.TOPK || n.Op == parser.BOTTOMK || n.Op == parser.LIMITK || n.Op == parser.LIMIT_RATIO:
			need(in, n.Op.String()+" by", n.Grouping...)
			return in
		case n.Without:
			if in == nil {
				return nil
			}
			out := maps.Clone(in)
			for _, l := range n.Grouping {
				delete(out, l)
			}
			return out
		}
		need(in, n.Op.String()+" by", n.Grouping...)
		out := labelSet{}
		for _, l := range n.Grouping {
			out[l] = true
		}
		if n.Op == parser.COUNT_VALUES {
			if s, ok := n.Param.(*parser.StringLiteral); ok {
				out[s.Val] = true
			}
		}
		return out
	case *parser.BinaryExpr:
		lhs, rhs := c.outLabels(n.LHS, problems), c.outLabels(n.RHS, problems)
		if n.LHS.Type() == parser.ValueTypeScalar {
			return rhs
		}
		if n.RHS.Type() == parser.ValueTypeScalar {
			return lhs
		}
		m := n.VectorMatching
		if m == nil {
			return lhs
		}
		if m.On {
			need(lhs, "on (left side)", m.MatchingLabels...)
			need(rhs, "on (right side)", m.MatchingLabels...)
		}
		switch {
		case n.Op == parser.LOR:
			if lhs == nil || rhs == nil {
				return nil
			}
			out := maps.Clone(lhs)
			maps.Copy(out, rhs)
			return out
		case n.Op.IsSetOperator():
			return lhs
		case m.Card == parser.CardManyToOne:
			need(rhs, "group_left", m.Include...)
			return withLabels(lhs, m.Include)
		case m.Card == parser.CardOneToMany:
			need(lhs, "group_right", m.Include...)
			return withLabels(rhs, m.Include)
		case m.On: // one-to-one on (...): the result keeps those labels
			return withLabels(labelSet{}, m.MatchingLabels)
		}
		if lhs == nil {
			return nil
		}
		out := maps.Clone(lhs)
		for _, l := range m.MatchingLabels { // ignoring (...)
			delete(out, l)
		}
		return out
	}
	return nil
}

func (c catalogue) callLabels(n *parser.Call, problems *[]string, need func(labelSet, string, ...string), report func(string, ...any)) labelSet {
	var args []labelSet
	for _, a := range n.Args {
		args = append(args, c.outLabels(a, problems))
	}
	name := n.Func.Name
	switch name {
	case "rate", "irate", "increase", "resets":
		if m := c.metricOf(n.Args[0]); m != "" && !c[m].counter {
			report("%s(%s): %s is not a counter", name, m, m)
		}
	case "delta", "idelta", "deriv", "predict_linear":
		if m := c.metricOf(n.Args[0]); m != "" && c[m].counter {
			report("%s(%s): %s is a counter; use rate or increase", name, m, m)
		}
	}
	switch name {
	case "label_replace", "label_join":
		dst, _ := n.Args[1].(*parser.StringLiteral)
		if args[0] == nil || dst == nil {
			return nil
		}
		return withLabels(args[0], []string{dst.Val})
	case "histogram_quantile":
		need(args[1], "histogram_quantile needs", "le")
		if args[1] == nil {
			return nil
		}
		out := maps.Clone(args[1])
		delete(out, "le")
		return out
	case "vector", "time", "scalar", "pi":
		return labelSet{}
	case "absent", "absent_over_time":
		return nil
	}
	for i, a := range n.Args {
		if t := a.Type(); t == parser.ValueTypeVector || t == parser.ValueTypeMatrix {
			return args[i]
		}
	}
	return labelSet{}
}

// metricOf names the series a range function reads, when it reads one
// metric of the catalogue directly.
func (c catalogue) metricOf(e parser.Expr) string {
	ms, ok := e.(*parser.MatrixSelector)
	if !ok {
		return ""
	}
	vs, _ := ms.VectorSelector.(*parser.VectorSelector)
	if vs == nil {
		return ""
	}
	if info, ok := c[vs.Name]; ok && info.source != "recording rule" && info.source != "prometheus" {
		return vs.Name
	}
	return ""
}

func withLabels(s labelSet, extra []string) labelSet {
	if s == nil {
		return nil
	}
	out := maps.Clone(s)
	for _, l := range extra {
		out[l] = true
	}
	return out
}

func sortedKeys(s labelSet) []string {
	return slices.Sorted(maps.Keys(s))
}

var (
	legendLabel     = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)
	annotationLabel = regexp.MustCompile(`\$labels\.(\w+)`)
)

// labelProblems checks one query and the labels its template (legend or
// annotations) names.
func (c catalogue) labelProblems(q query) []string {
	e, err := parser.ParseExpr(grafanaToPromQL(q.expr))
	if err != nil {
		return []string{err.Error()} // reported by TestPromQL too
	}
	var problems []string
	out := c.outLabels(e, &problems)
	re := legendLabel
	if q.alert {
		re = annotationLabel
		out = withLabels(out, []string{"alertname"})
	}
	for _, m := range re.FindAllStringSubmatch(q.template, -1) {
		if out != nil && !out[m[1]] {
			problems = append(problems, fmt.Sprintf("template names label %q, which the result does not carry (it has %v)", m[1], sortedKeys(out)))
		}
	}
	return problems
}

func TestPromQLLabels(t *testing.T) {
	known := knownMetrics(t)
	qs := slices.Concat(ruleQueries(t), dashboardQueries(t), docQueries(t))
	for _, q := range qs {
		for _, p := range known.labelProblems(q) {
			t.Errorf("%s: %s\n  %s", q.where, p, strings.TrimSpace(q.expr))
		}
	}
	t.Logf("%d queries: every by/on/group_left label, legend and annotation label exists", len(qs))
}

// TestPromQLLabelsCatches proves the label checks are not vacuous.
func TestPromQLLabelsCatches(t *testing.T) {
	known := knownMetrics(t)
	for _, q := range []query{
		{expr: `sum by (stage) (rate(streamscore_records_consumed_total[5m]))`},                                  // by a label it lacks
		{expr: `histogram_quantile(0.99, sum by (stage) (rate(streamscore_stage_duration_seconds_bucket[5m])))`}, // le summed away
		{expr: `rate(streamscore_backpressure[5m])`},                                                             // rate of a gauge
		{expr: `rate(streamscore_buffered_fetch_records_total[5m])`},                                             // kprom's gauge named _total
		{expr: `delta(streamscore_records_consumed_total[5m])`},                                                  // delta of a counter
		{expr: `streamscore_dlq_records_total / on (topic) streamscore_records_consumed_total`},                  // on a label one side lacks
		{expr: `sum(rate(streamscore_dlq_records_total[5m]))`, template: `{{reason}}`},                           // legend of a dropped label
		{expr: `sum by (door) (door:streamscore_events:rate10m)`, template: `{{input}}`},                         // recording rule labels
		{expr: `sum(streamscore_backpressure) > 0`, template: `on {{ $labels.instance }}`, alert: true},          // annotation
	} {
		if len(known.labelProblems(q)) == 0 {
			t.Errorf("%s (template %q): the checker let it through", q.expr, q.template)
		}
	}
}
