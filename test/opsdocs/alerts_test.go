package opsdocs

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"sigs.k8s.io/yaml"

	"github.com/ovn-dpu/ovn-dpu/pkg/dpuagent"
	"github.com/ovn-dpu/ovn-dpu/pkg/hostagent"
	"github.com/ovn-dpu/ovn-dpu/pkg/portstatus"
)

// ruleFile is Prometheus's rule file format, the fields alerts.yaml uses.
type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

// descCollector records the descriptors of everything registered with it.
type descCollector struct{ names []string }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d *descCollector) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		if m := fqName.FindStringSubmatch(desc.String()); m != nil {
			d.names = append(d.names, m[1])
		}
	}
	return nil
}
func (d *descCollector) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = d.Register(c)
	}
}
func (d *descCollector) Unregister(prometheus.Collector) bool { return false }

// exported lists the metric names both agents register, as they do for
// their --metrics server; histograms with their series suffixes.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	dpu, err := dpuagent.New(dpuagent.Config{SBRemotes: []string{"unix:/nonexistent"}}, portstatus.NewStore())
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient("unix:/nonexistent", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	host, err := hostagent.New(hostagent.Config{Node: "n1", NBRemotes: []string{"unix:/nonexistent"}, StateDir: t.TempDir()},
		hostagent.WithDPUConn(cc))
	if err != nil {
		t.Fatal(err)
	}
	var d descCollector
	for _, register := range []func(prometheus.Registerer) error{dpu.Register, host.Register} {
		if err := register(&d); err != nil {
			t.Fatal(err)
		}
	}
	names := map[string]bool{}
	for _, n := range d.names {
		names[n] = true
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			names[n+s] = true
		}
	}
	if len(d.names) < 10 {
		t.Fatalf("only %d metrics registered: %v", len(d.names), d.names)
	}
	return names
}

var metricName = regexp.MustCompile(`\bovndpu_[a-z0-9_]+`)

func TestAlertsUseExportedMetrics(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.UnmarshalStrict(data, &rf); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	names := exported(t)
	alerts := 0
	for _, g := range rf.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: no name or no rules", g.Name)
		}
		for _, r := range g.Rules {
			alerts++
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %q: alert, expr, severity and summary are required", r.Alert)
			}
			if _, err := time.ParseDuration(r.For); err != nil {
				t.Errorf("rule %s: for %q: %v", r.Alert, r.For, err)
			}
			used := metricName.FindAllString(r.Expr, -1)
			if len(used) == 0 && !strings.Contains(r.Expr, "up{") {
				t.Errorf("rule %s uses no ovndpu metric: %s", r.Alert, r.Expr)
			}
			for _, m := range used {
				if !names[m] {
					t.Errorf("rule %s uses %s, which neither agent exports", r.Alert, m)
				}
			}
		}
	}
	if alerts == 0 {
		t.Fatal("no alerts")
	}
}

// TestMetricsDocListsEveryMetric: docs/metrics.md has a row for each metric.
func TestMetricsDocListsEveryMetric(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	names := exported(t)
	var missing []string
	for n := range names {
		if strings.HasPrefix(n, "ovndpu_") && !strings.HasSuffix(n, "_bucket") && !strings.HasSuffix(n, "_sum") &&
			!strings.HasSuffix(n, "_count") && !strings.Contains(doc, "`"+n+"`") {
			missing = append(missing, n)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("docs/metrics.md does not list %v", missing)
	}
	for _, m := range metricName.FindAllString(doc, -1) {
		if !names[m] {
			t.Errorf("docs/metrics.md names %s, which neither agent exports", m)
		}
	}
}
