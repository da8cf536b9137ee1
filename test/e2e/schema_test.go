package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// newerSchemas are the OVN releases whose NB and SB schemas test/schemas
// holds (its README names the tags and commits), with the "version" each
// schema file declares.
var newerSchemas = []struct{ release, nbVersion, sbVersion string }{
	{"24.03", "7.3.0", "20.33.0"},
	{"24.09", "7.6.0", "20.37.0"},
	{"25.03", "7.11.0", "20.41.0"},
}

// TestNewerOVNSchemas: for each newer OVN release, a bed whose NB and SB
// databases are created from that release's schemas (ovsdb-server,
// ovn-northd and ovn-controller stay Debian's OVS 3.1 / OVN 23.03), with
// both agents, whose libovsdb models are generated from 23.03's schemas.
// The DPU agent plugs the representor an LSP written with ovn-nbctl asks
// for and reports READY; the host agent attaches a pod through cnitool (NB
// write and monitor, the DPU agent's plug over gRPC); the two pods ping
// each other across OVN; DEL removes the LSP and brings the VF home.
func TestNewerOVNSchemas(t *testing.T) {
	for _, v := range newerSchemas {
		t.Run(v.release, func(t *testing.T) {
			start := time.Now()
			nb, sb := schemaFiles(t, v.release)
			s := startSchemaBed(t, testbed.Options{HostNetns: true, NBSchema: nb, SBSchema: sb}, 2)
			s.checkVersions(t, v.nbVersion, v.sbVersion)
			s.plugAndAttach(t, "", s.vfs[0], s.vfs[1], "10.30.0.200")
			s.checkDaemonLogs(t)
			t.Logf("OVN %s schemas: %v", v.release, time.Since(start))
		})
	}
}

// TestOnlineSchemaUpgrade: the way OVN central is upgraded in place, NB
// and SB are converted from 23.03's schemas to the newest release's with
// `ovsdb-client convert` while northd, ovn-controller and both agents run
// on them. ovsdb-server disconnects the agents' libovsdb clients (they do
// not follow _Server), which reconnect and check their models against the
// new schemas; northd's and ovn-controller's IDLs follow _Server and switch
// in place. A port plugged before keeps working; the agents plug and attach
// new ones.
func TestOnlineSchemaUpgrade(t *testing.T) {
	newest := newerSchemas[len(newerSchemas)-1]
	nb, sb := schemaFiles(t, newest.release)
	s := startSchemaBed(t, testbed.Options{HostNetns: true}, 4)
	s.plugAndAttach(t, "-old", s.vfs[0], s.vfs[1], "10.30.0.200")
	for _, db := range []struct{ remote, schema string }{{s.bed.NBRemote, nb}, {s.bed.SBRemote, sb}} {
		testbed.Must(s.bed.InNetns(s.ctx, "", "ovsdb-client", "--timeout=20", "convert", db.remote, db.schema))(t)
	}
	s.checkVersions(t, newest.nbVersion, newest.sbVersion)
	s.plugAndAttach(t, "-new", s.vfs[2], s.vfs[3], "10.30.0.201")
	// The port plugged before the conversion still carries traffic.
	if err := s.bed.Ping(s.ctx, s.bed.Pod("n-new"), "10.30.0.200"); err != nil {
		t.Fatal(err)
	}
	if st := s.w.Latest("by-nbctl-old"); st.Phase != ovndpuv1.Phase_PHASE_READY {
		t.Errorf("by-nbctl-old is %v %q after the conversion, want READY", st.Phase, st.Reason)
	}
	s.checkDaemonLogs(t)
}

// schemaFiles are the absolute paths of release's stored schemas.
func schemaFiles(t *testing.T, release string) (nb, sb string) {
	t.Helper()
	dir := testbed.Must(filepath.Abs(filepath.Join("..", "schemas", release)))(t)
	nb, sb = filepath.Join(dir, "ovn-nb.ovsschema"), filepath.Join(dir, "ovn-sb.ovsschema")
	for _, f := range []string{nb, sb} {
		if _, err := os.Stat(f); err != nil {
			t.Fatal(err) // test data: never a reason to skip
		}
	}
	return nb, sb
}

// schemaEnv is a bed with both agents on unix sockets without TLS (the
// mTLS path does not depend on the schema; TestAttachTwoPodsPingDelAndReuse
// covers it) and a watcher on every port.
type schemaEnv struct {
	*env
	w   *testbed.Watcher
	vfs []*testbed.VF
}

func startSchemaBed(t *testing.T, opts testbed.Options, nVFs int) *schemaEnv {
	t.Helper()
	bed := testbed.New(t, opts)
	ctx := t.Context()
	testbed.Must(bed.NBCtl(ctx, "ls-add", "net1"))(t)
	// The VFs before the agent: started first, it would see their
	// representors only at its next devlink re-read, a second later.
	indices := make([]int, nVFs)
	for i := range indices {
		indices[i] = i
	}
	vfs := testbed.Must(bed.AddVFs(ctx, 0, indices, testbed.VFOptions{}))(t)
	agent := testbed.Must(bed.StartDPUAgent(ctx, "--representor-wait=1s"))(t)
	w := testbed.Must(agent.Watch(ctx, ""))(t)
	t.Cleanup(w.Close)
	host := testbed.Must(bed.StartHostAgent(ctx, "unix:"+agent.Socket, "--insecure"))(t)
	return &schemaEnv{env: &env{bed: bed, host: host, ctx: ctx}, w: w, vfs: vfs}
}

// checkVersions checks the schema versions NB and SB serve.
func (s *schemaEnv) checkVersions(t *testing.T, nb, sb string) {
	t.Helper()
	for _, db := range []struct{ remote, name, want string }{
		{s.bed.NBRemote, "OVN_Northbound", nb}, {s.bed.SBRemote, "OVN_Southbound", sb}} {
		got := testbed.Must(s.bed.InNetns(s.ctx, "", "ovsdb-client", "get-schema-version", db.remote, db.name))(t)
		if strings.TrimSpace(got) != db.want {
			t.Fatalf("%s serves schema version %q, want %s", db.name, got, db.want)
		}
	}
}

// plugAndAttach: the DPU agent alone plugs vfNbctl for LSP by-nbctl<sfx>,
// written with ovn-nbctl as Neutron would, and its VF goes into pod
// n<sfx> at nbctlIP; then a CNI ADD attaches vfCNI to pod c<sfx>, which
// pings n<sfx> across OVN, and DEL undoes it.
func (s *schemaEnv) plugAndAttach(t *testing.T, sfx string, vfNbctl, vfCNI *testbed.VF, nbctlIP string) {
	t.Helper()
	bed, ctx := s.bed, s.ctx
	lsp := "by-nbctl" + sfx
	testbed.Must(0, bed.RequestRepresentor(ctx, "net1", lsp, vfNbctl, nbctlIP))(t)
	if err := s.w.WaitPhase(ctx, time.Minute, ovndpuv1.Phase_PHASE_READY, lsp); err != nil {
		t.Fatal(err)
	}
	if st := s.w.Latest(lsp); st.Representor != vfNbctl.Representor || st.Ofport <= 0 {
		t.Errorf("status of %s = %+v, want representor %s with an ofport", lsp, st, vfNbctl.Representor)
	}
	// northd copied ovn-controller's binding back into NB.
	testbed.Must(bed.NBCtl(ctx, "wait-until", "Logical_Switch_Port", lsp, "up=true"))(t)
	nPod := testbed.Must(bed.AddPod(ctx, "n"+sfx))(t)
	testbed.Must(0, bed.PlumbVF(ctx, vfNbctl, nPod, "eth0", nbctlIP+"/24"))(t)

	cPod := testbed.Must(bed.AddPod(ctx, "c"+sfx))(t)
	conf := s.netconf(vfCNI.PCI, s.hostLocal(), nil)
	res, took := s.add(t, cPod, conf)
	t.Logf("ADD c%s: %v", sfx, took)
	if len(res.IPs) != 1 || len(res.Interfaces) != 1 || res.Interfaces[0].PciID != vfCNI.PCI {
		t.Fatalf("ADD result %+v: want one IP and an interface with pciID %s", res, vfCNI.PCI)
	}
	lsps := s.lsps(t)
	if len(lsps) != 1 {
		t.Fatalf("host agent owns LSPs %v, want 1", lsps)
	}
	testbed.Must(0, bed.Sysfs().MoveNetdevToPod(vfCNI.PCI))(t)
	if err := bed.Ping(ctx, cPod, nbctlIP); err != nil {
		t.Fatal(err)
	}

	s.del(t, cPod, conf)
	testbed.Must(0, bed.Sysfs().MoveNetdevHome(vfCNI.PCI, ""))(t)
	s.vfHome(t, vfCNI)
	if got := s.lsps(t); len(got) != 0 {
		t.Fatalf("LSPs left after DEL: %v", got)
	}
	if err := s.w.WaitPhase(ctx, 30*time.Second, ovndpuv1.Phase_PHASE_UNPLUGGED, lsps[0]); err != nil {
		t.Fatal(err)
	}
	if st := s.w.Latest(lsp); st.Phase != ovndpuv1.Phase_PHASE_READY {
		t.Errorf("%s is %v after the other pod's DEL, want READY", lsp, st.Phase)
	}
}

// checkDaemonLogs fails t on any error the OVS/OVN daemons logged against
// the databases.
func (s *schemaEnv) checkDaemonLogs(t *testing.T) {
	t.Helper()
	for _, d := range []string{"nb-ovsdb", "sb-ovsdb", "northd", "controller"} {
		data := testbed.Must(os.ReadFile(filepath.Join(s.bed.Dir, d+".log")))(t)
		for _, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, "|ERR|") || strings.Contains(line, "|EMER|") {
				t.Errorf("%s", fmt.Sprintf("%s.log: %s", d, line))
			}
		}
	}
}
