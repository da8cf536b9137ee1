package deploy

import (
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The metrics server's paths (pkg/metricsserver).
const (
	livenessPath  = "/healthz"
	readinessPath = "/readyz"
)

// examples are the keys of the ConfigMaps and Secrets the manifests
// provide (real ones or examples), by namespace/name.
type examples struct {
	configMaps, secrets map[string]map[string]bool
}

func collectExamples(objs []object) examples {
	ex := examples{configMaps: map[string]map[string]bool{}, secrets: map[string]map[string]bool{}}
	for _, o := range objs {
		id := o.meta.GetNamespace() + "/" + o.meta.GetName()
		switch v := o.obj.(type) {
		case *corev1.ConfigMap:
			ks := map[string]bool{}
			for k := range v.Data {
				ks[k] = true
			}
			for k := range v.BinaryData {
				ks[k] = true
			}
			ex.configMaps[id] = ks
		case *corev1.Secret:
			ks := map[string]bool{}
			for k := range v.Data {
				ks[k] = true
			}
			for k := range v.StringData {
				ks[k] = true
			}
			ex.secrets[id] = ks
		}
	}
	return ex
}

// podOf is a manifest's pod template (DaemonSet) or pod.
type podOf struct {
	where, namespace, name string
	spec                   *corev1.PodSpec
}

func pods(objs []object) []podOf {
	var out []podOf
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *appsv1.DaemonSet:
			out = append(out, podOf{o.where, v.Namespace, v.Name, &v.Spec.Template.Spec})
		case *corev1.Pod:
			out = append(out, podOf{o.where, v.Namespace, v.Name, &v.Spec})
		}
	}
	return out
}

// agentPod finds the one pod whose main container runs binary.
func agentPod(t *testing.T, objs []object, binary string) (podOf, *corev1.Container) {
	t.Helper()
	var found []podOf
	var ctr *corev1.Container
	for _, p := range pods(objs) {
		for i := range p.spec.Containers {
			if c := &p.spec.Containers[i]; binaryOf(c) == binary {
				found, ctr = append(found, p), c
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d containers run %s in deploy/kubernetes; want 1", len(found), binary)
	}
	return found[0], ctr
}

// binaryOf is the ovn-dpu binary a container execs, or "".
func binaryOf(c *corev1.Container) string {
	if len(c.Command) == 0 {
		return ""
	}
	if b := path.Base(c.Command[0]); packages[b] != "" {
		return b
	}
	return ""
}

// envRef is a $(VAR) reference Kubernetes expands in command and args
// (anything else between $( and ), e.g. a shell command, it leaves alone).
var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

func TestPodsCrossReferences(t *testing.T) {
	objs := loadManifests(t)
	ex := collectExamples(objs)
	for _, p := range pods(objs) {
		checkPodRefs(t, p, ex)
	}
}

func checkPodRefs(t *testing.T, p podOf, ex examples) {
	t.Helper()
	volumes := map[string]*corev1.Volume{}
	for i := range p.spec.Volumes {
		v := &p.spec.Volumes[i]
		if volumes[v.Name] != nil {
			t.Errorf("%s: volume %s defined twice", p.where, v.Name)
		}
		volumes[v.Name] = v
		switch {
		case v.ConfigMap != nil:
			checkKeys(t, p.where, "volume "+v.Name, "ConfigMap", ex.configMaps, p.namespace, v.ConfigMap.Name, itemKeys(v.ConfigMap.Items), v.ConfigMap.Optional)
		case v.Secret != nil:
			checkKeys(t, p.where, "volume "+v.Name, "Secret", ex.secrets, p.namespace, v.Secret.SecretName, itemKeys(v.Secret.Items), v.Secret.Optional)
		}
	}
	used := map[string]bool{}
	containers := append(slices.Clone(p.spec.InitContainers), p.spec.Containers...)
	for i := range containers {
		c := &containers[i]
		where := p.where + " container " + c.Name
		mounts := map[string]bool{}
		for _, m := range c.VolumeMounts {
			if volumes[m.Name] == nil {
				t.Errorf("%s: volumeMount %s has no volume", where, m.Name)
			}
			if mounts[m.MountPath] {
				t.Errorf("%s: two volumeMounts at %s", where, m.MountPath)
			}
			mounts[m.MountPath], used[m.Name] = true, true
		}
		env := map[string]bool{}
		for _, e := range c.Env {
			env[e.Name] = true
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				checkKeys(t, where, "env "+e.Name, "ConfigMap", ex.configMaps, p.namespace, r.Name, []string{r.Key}, r.Optional)
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil {
				checkKeys(t, where, "env "+e.Name, "Secret", ex.secrets, p.namespace, r.Name, []string{r.Key}, r.Optional)
			}
		}
		for _, ef := range c.EnvFrom {
			if r := ef.ConfigMapRef; r != nil {
				checkKeys(t, where, "envFrom", "ConfigMap", ex.configMaps, p.namespace, r.Name, nil, r.Optional)
			}
			if r := ef.SecretRef; r != nil {
				checkKeys(t, where, "envFrom", "Secret", ex.secrets, p.namespace, r.Name, nil, r.Optional)
			}
		}
		// Kubernetes expands $(VAR) in command and args from the
		// container's env only, and leaves an unknown one as is.
		for _, a := range append(slices.Clone(c.Command), c.Args...) {
			for _, m := range envRef.FindAllStringSubmatchIndex(a, -1) {
				if m[0] > 0 && a[m[0]-1] == '$' {
					continue // $$(X) is a literal $(X)
				}
				if name := a[m[2]:m[3]]; !env[name] {
					t.Errorf("%s: %q refers to $(%s), which is not in the container's env", where, a, name)
				}
			}
		}
		if b := binaryOf(c); b != "" {
			checkAgentContainer(t, where, b, p, c, volumes, ex)
		}
	}
	for name := range volumes {
		if !used[name] {
			t.Errorf("%s: volume %s is mounted by no container", p.where, name)
		}
	}
}

func itemKeys(items []corev1.KeyToPath) []string {
	var ks []string
	for _, it := range items {
		ks = append(ks, it.Key)
	}
	return ks
}

// checkKeys reports a ConfigMap or Secret the manifests do not provide, or
// a key it lacks. Optional references may point at nothing.
func checkKeys(t *testing.T, where, what, kind string, have map[string]map[string]bool, ns, name string, want []string, optional *bool) {
	t.Helper()
	if optional != nil && *optional {
		return
	}
	ks, ok := have[ns+"/"+name]
	if !ok {
		t.Errorf("%s: %s uses %s %s/%s, which deploy/kubernetes does not provide (not even as an example)", where, what, kind, ns, name)
		return
	}
	for _, k := range want {
		if !ks[k] {
			t.Errorf("%s: %s uses key %s of %s %s/%s, which has only %v", where, what, k, kind, ns, name, keys(ks))
		}
	}
}

// fileFlags name a file the agent reads.
var fileFlags = []string{"tls-cert", "tls-key", "tls-ca", "ovsdb-cert", "ovsdb-key", "ovsdb-ca", "devlink-dump"}

func checkAgentContainer(t *testing.T, where, binary string, p podOf, c *corev1.Container, volumes map[string]*corev1.Volume, ex examples) {
	t.Helper()
	if binary == "ovn-dpu-cni" {
		t.Errorf("%s: runs the CNI plugin as a daemon", where)
		return
	}
	flags := checkFlags(t, where, binary, append(slices.Clone(c.Command[1:]), c.Args...))
	for _, f := range fileFlags {
		if v, ok := flags[f]; ok {
			checkFileInVolume(t, where, "--"+f, v, p, c, volumes, ex)
		}
	}
	checkProbes(t, where, flags, c)
	// Where it creates files (state, unix sockets) must be writable.
	for _, d := range createdPaths(t, binary, flags) {
		if m := mountFor(c, d); m != nil {
			if m.ReadOnly {
				t.Errorf("%s: %s is on readOnly volume %s; the agent creates files there", where, d, m.Name)
			}
		} else if sc := c.SecurityContext; sc != nil && sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: %s is on the read-only root file system and no volume; the agent creates files there", where, d)
		}
	}
}

// mountFor is the volumeMount holding path (the longest prefix).
func mountFor(c *corev1.Container, p string) *corev1.VolumeMount {
	var best *corev1.VolumeMount
	for i := range c.VolumeMounts {
		m := &c.VolumeMounts[i]
		if (p == m.MountPath || strings.HasPrefix(p, strings.TrimSuffix(m.MountPath, "/")+"/")) &&
			(best == nil || len(m.MountPath) > len(best.MountPath)) {
			best = m
		}
	}
	return best
}

// checkFileInVolume: a file flag's path must be on a mounted volume; on a
// Secret or ConfigMap, the key must exist in the example.
func checkFileInVolume(t *testing.T, where, flag, file string, p podOf, c *corev1.Container, volumes map[string]*corev1.Volume, ex examples) {
	t.Helper()
	m := mountFor(c, file)
	if m == nil {
		t.Errorf("%s: %s=%s is on no volume: the image has no such file", where, flag, file)
		return
	}
	v := volumes[m.Name]
	if v == nil {
		return // reported already
	}
	key := strings.TrimPrefix(strings.TrimPrefix(file, m.MountPath), "/")
	if m.SubPath != "" {
		t.Errorf("%s: %s is mounted with subPath %s: rotated files would never reach the agent", where, flag, m.SubPath)
	}
	switch {
	case v.Secret != nil:
		checkKeys(t, where, flag, "Secret", ex.secrets, p.namespace, v.Secret.SecretName, []string{key}, nil)
	case v.ConfigMap != nil:
		checkKeys(t, where, flag, "ConfigMap", ex.configMaps, p.namespace, v.ConfigMap.Name, []string{key}, nil)
	case v.HostPath != nil:
		// Provided by the host's installer (docs/install-kubernetes.md).
	default:
		t.Errorf("%s: %s=%s is on volume %s, neither a Secret, a ConfigMap nor a hostPath", where, flag, file, m.Name)
	}
}

// checkProbes: the probes must reach the metrics server the args start,
// on the paths it serves, on an address the kubelet can reach (the pod
// IP; with hostNetwork, the node's).
func checkProbes(t *testing.T, where string, flags parsedFlags, c *corev1.Container) {
	t.Helper()
	addr, ok := flags["metrics"]
	if !ok || addr == "" {
		t.Errorf("%s: no --metrics, so the probes reach nothing", where)
		return
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		t.Errorf("%s: --metrics=%s: %v", where, addr, err)
		return
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		t.Errorf("%s: --metrics=%s listens on %s only; the kubelet probes the pod's IP", where, addr, host)
	}
	port, _ := strconv.Atoi(portStr)
	for _, pr := range []struct {
		name, path string
		probe      *corev1.Probe
	}{{"readinessProbe", readinessPath, c.ReadinessProbe}, {"livenessProbe", livenessPath, c.LivenessProbe}, {"startupProbe", livenessPath, c.StartupProbe}} {
		if pr.probe == nil {
			if pr.name != "startupProbe" {
				t.Errorf("%s: no %s", where, pr.name)
			}
			continue
		}
		g := pr.probe.HTTPGet
		if g == nil {
			t.Errorf("%s: %s is not an httpGet of %s", where, pr.name, pr.path)
			continue
		}
		if g.Path != pr.path {
			t.Errorf("%s: %s path %q; the metrics server serves %s for it", where, pr.name, g.Path, pr.path)
		}
		if got := probePort(c, g.Port); got != port {
			t.Errorf("%s: %s port %s resolves to %d; --metrics=%s listens on %d", where, pr.name, g.Port.String(), got, addr, port)
		}
		if g.Scheme != "" && g.Scheme != corev1.URISchemeHTTP {
			t.Errorf("%s: %s scheme %s; the metrics server speaks HTTP", where, pr.name, g.Scheme)
		}
	}
	for _, cp := range c.Ports {
		if cp.Name == "metrics" && int(cp.ContainerPort) != port {
			t.Errorf("%s: containerPort metrics is %d; --metrics=%s", where, cp.ContainerPort, addr)
		}
	}
}

func probePort(c *corev1.Container, p intstr.IntOrString) int {
	if p.Type == intstr.Int {
		return p.IntValue()
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort)
		}
	}
	return -1
}

// hostMount is the volumeMount at mountPath and its hostPath, or nil.
func hostMount(p podOf, c *corev1.Container, mountPath string) (*corev1.VolumeMount, *corev1.HostPathVolumeSource) {
	for i := range c.VolumeMounts {
		m := &c.VolumeMounts[i]
		if m.MountPath != mountPath {
			continue
		}
		for _, v := range p.spec.Volumes {
			if v.Name == m.Name {
				return m, v.HostPath
			}
		}
		return m, nil
	}
	return nil, nil
}

// requireHostDir asserts that mountPath (or a parent) is a hostPath
// mount of one of hostPaths, writable when writable is set.
func requireHostDir(t *testing.T, where string, p podOf, c *corev1.Container, file string, hostPaths []string, writable bool, why string) *corev1.VolumeMount {
	t.Helper()
	m := mountFor(c, file)
	if m == nil {
		t.Errorf("%s: %s is on no volume (%s)", where, file, why)
		return nil
	}
	_, hp := hostMount(p, c, m.MountPath)
	if hp == nil {
		t.Errorf("%s: %s is on volume %s, not a hostPath (%s)", where, file, m.Name, why)
		return m
	}
	rel := strings.TrimPrefix(file, m.MountPath)
	if !slices.Contains(hostPaths, path.Clean(hp.Path+rel)) {
		t.Errorf("%s: %s comes from host path %s; want %v (%s)", where, file, path.Clean(hp.Path+rel), hostPaths, why)
	}
	if writable && m.ReadOnly {
		t.Errorf("%s: %s is mounted readOnly (%s)", where, file, why)
	}
	return m
}

func privilegedOr(c *corev1.Container, caps ...corev1.Capability) bool {
	sc := c.SecurityContext
	if sc == nil {
		return false
	}
	if sc.Privileged != nil && *sc.Privileged {
		return true
	}
	if sc.Capabilities == nil {
		return false
	}
	for _, want := range caps {
		if !slices.Contains(sc.Capabilities.Add, want) {
			return false
		}
	}
	return true
}

// The host agent's pod has what CNI work needs.
func TestHostAgentPodCanDoCNI(t *testing.T) {
	objs := loadManifests(t)
	p, c := agentPod(t, objs, "ovn-dpu-host-agent")
	where := p.where + " container " + c.Name
	flags := checkFlags(t, where, "ovn-dpu-host-agent", append(slices.Clone(c.Command[1:]), c.Args...))
	if !p.spec.HostNetwork {
		t.Errorf("%s: not hostNetwork: the VFs, OVN NB and the DPU link are in the host's namespace", p.where)
	}
	if !p.spec.HostPID {
		t.Errorf("%s: not hostPID: runtimes that pass CNI_NETNS=/proc/<pid>/ns/net (cri-dockerd) name a host PID", p.where)
	}
	if !privilegedOr(c, "NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE") {
		t.Errorf("%s: neither privileged nor CAP_NET_ADMIN+CAP_SYS_ADMIN+CAP_SYS_PTRACE: cannot move VFs into pods or enter their netns", where)
	}
	// Pod network namespaces appear after the agent started.
	m, hp := hostMount(p, c, "/var/run/netns")
	switch {
	case m == nil:
		t.Errorf("%s: /var/run/netns not mounted: pod network namespaces are bind mounts there", where)
	case hp == nil || (hp.Path != "/var/run/netns" && hp.Path != "/run/netns"):
		t.Errorf("%s: /var/run/netns is not the host's /run/netns", where)
	case m.MountPropagation == nil || (*m.MountPropagation != corev1.MountPropagationHostToContainer && *m.MountPropagation != corev1.MountPropagationBidirectional):
		t.Errorf("%s: /var/run/netns without mountPropagation HostToContainer: namespaces created after the agent started would be empty files in it", where)
	}
	state := flags["state-dir"]
	if state == "" {
		state = "/var/lib/ovn-dpu" // the binary's default
	}
	requireHostDir(t, where, p, c, state, []string{state}, true, "attachment records must survive the pod, for DEL after a restart")
	requireHostDir(t, where, p, c, "/var/lib/cni", []string{"/var/lib/cni"}, true, "host-local, run by the agent, keeps its leases there")
	requireHostDir(t, where, p, c, "/opt/cni/bin", []string{"/opt/cni/bin"}, false, "IPAM delegates are exec'd from the request's CNI_PATH, a host path")
	sock := flags["socket"]
	if sock == "" {
		sock = "/run/ovn-dpu/host-agent.sock"
	}
	requireHostDir(t, where, p, c, path.Dir(sock), []string{path.Dir(sock)}, true, "ovn-dpu-cni on the host dials --socket")
	if s := flags["sysfs-root"]; s == "" {
		t.Errorf("%s: no --sysfs-root: the container's /sys is not the host's when the pod is not privileged", where)
	} else {
		requireHostDir(t, where, p, c, s, []string{"/sys"}, false, "VF lookup")
	}
	checkInstallCNI(t, p)
}

// The DPU agent's pod reaches OVS, devlink and the host.
func TestDPUAgentPod(t *testing.T) {
	objs := loadManifests(t)
	p, c := agentPod(t, objs, "ovn-dpu-agent")
	where := p.where + " container " + c.Name
	flags := checkFlags(t, where, "ovn-dpu-agent", append(slices.Clone(c.Command[1:]), c.Args...))
	if !p.spec.HostNetwork {
		t.Errorf("%s: not hostNetwork: devlink and the representors are in the DPU's namespace, and hosts dial --listen there", p.where)
	}
	ovs := flags["ovs"]
	if ovs == "" {
		ovs = "unix:/var/run/openvswitch/db.sock"
	}
	if sock, ok := strings.CutPrefix(ovs, "unix:"); ok {
		m := requireHostDir(t, where, p, c, path.Dir(sock), []string{"/var/run/openvswitch", "/run/openvswitch"}, false, "the OVS database socket")
		if m != nil && m.MountPath != path.Dir(sock) {
			t.Errorf("%s: OVS socket dir mounted at %s: mount the directory %s itself, ovsdb-server recreates db.sock", where, m.MountPath, path.Dir(sock))
		}
	}
	if s := flags["sysfs-root"]; s != "" {
		requireHostDir(t, where, p, c, s, []string{"/sys"}, false, "PF MAC fallback")
	}
	if !privilegedOr(c, "DAC_OVERRIDE") {
		t.Errorf("%s: neither privileged nor CAP_DAC_OVERRIDE: an OVS socket owned by openvswitch is out of reach", where)
	}
	listen := flags["listen"]
	if listen == "" {
		listen = ":50151"
	}
	_, lport, err := net.SplitHostPort(listen)
	if err != nil {
		t.Errorf("%s: --listen=%s: %v", where, listen, err)
	}
	var grpcPort bool
	for _, cp := range c.Ports {
		grpcPort = grpcPort || strconv.Itoa(int(cp.ContainerPort)) == lport
	}
	if !grpcPort {
		t.Errorf("%s: no containerPort for --listen=%s", where, listen)
	}
}

// checkInstallCNI runs the init container that installs ovn-dpu-cni
// against temporary directories standing in for its mounts.
func checkInstallCNI(t *testing.T, p podOf) {
	t.Helper()
	var ic *corev1.Container
	for i := range p.spec.InitContainers {
		if strings.Contains(strings.Join(p.spec.InitContainers[i].Command, " "), "ovn-dpu-cni") {
			ic = &p.spec.InitContainers[i]
		}
	}
	if ic == nil {
		t.Errorf("%s: no init container installs ovn-dpu-cni", p.where)
		return
	}
	where := p.where + " initContainer " + ic.Name
	if len(ic.Command) != 3 || ic.Command[0] != "/bin/sh" || ic.Command[1] != "-ec" {
		t.Errorf("%s: command is not /bin/sh -ec SCRIPT: %q", where, ic.Command)
		return
	}
	var binMount string
	for _, m := range ic.VolumeMounts {
		if _, hp := hostMount(p, ic, m.MountPath); hp != nil && hp.Path == "/opt/cni/bin" {
			binMount = m.MountPath
			if m.ReadOnly {
				t.Errorf("%s: /opt/cni/bin mounted readOnly", where)
			}
		}
	}
	if binMount == "" {
		t.Errorf("%s: does not mount the host's /opt/cni/bin", where)
		return
	}
	shell := "/bin/sh" // dash on Debian, as in most images' /bin/sh
	if _, err := exec.LookPath(shell); err != nil {
		t.Fatalf("no %s: %v", shell, err)
	}
	for _, ipam := range []string{"false", "true"} {
		dir := t.TempDir()
		hostBin, imgLib := filepath.Join(dir, "host-bin"), filepath.Join(dir, "img-lib")
		for _, d := range []string{hostBin, imgLib} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(imgLib, "host-local"), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		script := strings.NewReplacer(binMount, hostBin, "/usr/local/bin/ovn-dpu-cni", binary(t, "ovn-dpu-cni"),
			"/usr/local/lib/cni", imgLib).Replace(ic.Command[2])
		cmd := exec.Command(shell, "-ec", script)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		for _, e := range ic.Env {
			if e.Name == "INSTALL_IPAM_PLUGINS" {
				e.Value = ipam
			}
			cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: script failed (INSTALL_IPAM_PLUGINS=%s): %v\n%s", where, ipam, err, out)
			continue
		}
		want := []string{"ovn-dpu-cni"}
		if ipam == "true" {
			want = append(want, "host-local")
		}
		entries, _ := os.ReadDir(hostBin)
		var got []string
		for _, e := range entries {
			got = append(got, e.Name())
			if fi, err := e.Info(); err == nil && fi.Mode().Perm() != 0o755 {
				t.Errorf("%s: installed %s with mode %v", where, e.Name(), fi.Mode().Perm())
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: INSTALL_IPAM_PLUGINS=%s installed %v (temporary files included); want %v", where, ipam, got, want)
		}
	}
}
