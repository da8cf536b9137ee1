package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/ovn-dpu/ovn-dpu/pkg/netconf"
)

// A VF address as the SR-IOV device plugin allocates and Multus injects.
const exampleDeviceID = "0000:03:00.2"

const (
	resourceAnnotation = "k8s.v1.cni.cncf.io/resourceName"
	networksAnnotation = "k8s.v1.cni.cncf.io/networks"
)

// withKey returns the JSON object conf with key set to v (at top level,
// or inside the object named by parent).
func withKey(t *testing.T, conf []byte, parent, key string, v any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(conf, &m); err != nil {
		t.Fatalf("not a JSON object: %v", err)
	}
	dst := m
	if parent != "" {
		sub, _ := m[parent].(map[string]any)
		if sub == nil {
			sub = map[string]any{}
		}
		m[parent], dst = sub, sub
	}
	dst[key] = v
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sriovResources are the resource names the SR-IOV device plugin
// ConfigMap advertises (prefix/name).
func sriovResources(t *testing.T, objs []object) []string {
	t.Helper()
	var out []string
	for _, o := range objs {
		cm, ok := o.obj.(*corev1.ConfigMap)
		if !ok || cm.Name != "sriovdp-config" {
			continue
		}
		var cfg struct {
			ResourceList []struct {
				ResourceName   string         `json:"resourceName"`
				ResourcePrefix string         `json:"resourcePrefix"`
				Selectors      map[string]any `json:"selectors"`
			} `json:"resourceList"`
		}
		dec := json.NewDecoder(strings.NewReader(cm.Data["config.json"]))
		if err := dec.Decode(&cfg); err != nil {
			t.Errorf("%s: config.json: %v", o.where, err)
		}
		for _, r := range cfg.ResourceList {
			if r.ResourcePrefix == "" || r.ResourceName == "" {
				t.Errorf("%s: resource without resourcePrefix or resourceName", o.where)
			}
			if drv, _ := r.Selectors["drivers"].([]any); !slices.Contains(drv, any("mlx5_core")) {
				t.Errorf("%s: resource %s does not select driver mlx5_core: a VF on vfio-pci has no netdev to move", o.where, r.ResourceName)
			}
			out = append(out, r.ResourcePrefix+"/"+r.ResourceName)
		}
	}
	if len(out) == 0 {
		t.Error("deploy/kubernetes has no sriovdp-config ConfigMap advertising a resource")
	}
	return out
}

func TestNetworkAttachmentDefinitions(t *testing.T) {
	objs := loadManifests(t)
	resources := sriovResources(t, objs)
	_, host := agentPod(t, objs, "ovn-dpu-host-agent")
	hostFlags := checkFlags(t, "host agent", "ovn-dpu-host-agent", append(slices.Clone(host.Command[1:]), host.Args...))
	socket := hostFlags["socket"]
	if socket == "" {
		socket = netconf.DefaultAgentSocket
	}
	nads := map[string]*nadv1.NetworkAttachmentDefinition{}
	for _, o := range objs {
		nad, ok := o.obj.(*nadv1.NetworkAttachmentDefinition)
		if !ok {
			continue
		}
		nads[nad.Namespace+"/"+nad.Name] = nad
		conf := []byte(nad.Spec.Config)
		if _, err := netconf.Parse(conf); err != nil {
			t.Errorf("%s: spec.config: %v", o.where, err)
			continue
		}
		// Multus puts the device plugin's VF in the config, top level.
		c, err := netconf.ParseAdd(withKey(t, conf, "", "deviceID", exampleDeviceID))
		if err != nil {
			t.Errorf("%s: spec.config with Multus' deviceID: %v", o.where, err)
			continue
		}
		if c.Type != "ovn-dpu-cni" {
			t.Errorf("%s: type %q; the plugin is installed as ovn-dpu-cni", o.where, c.Type)
		}
		if c.Name != nad.Name {
			t.Errorf("%s: config name %q differs from the object's %q", o.where, c.Name, nad.Name)
		}
		if c.AgentSocket != socket {
			t.Errorf("%s: agentSocket %s; the host agent listens on %s", o.where, c.AgentSocket, socket)
		}
		if r := nad.Annotations[resourceAnnotation]; !slices.Contains(resources, r) {
			t.Errorf("%s: %s %q is not a resource of the SR-IOV device plugin config (%v): Multus would inject no deviceID", o.where, resourceAnnotation, r, resources)
		}
	}
	if len(nads) == 0 {
		t.Fatal("no NetworkAttachmentDefinition in deploy/kubernetes")
	}
	// The example pods name existing networks and request their VFs.
	for _, p := range objs {
		pod, ok := p.obj.(*corev1.Pod)
		if !ok {
			continue
		}
		for _, n := range strings.Split(pod.Annotations[networksAnnotation], ",") {
			n = strings.TrimSpace(strings.Split(n, "@")[0])
			if n == "" {
				continue
			}
			if !strings.Contains(n, "/") {
				n = pod.Namespace + "/" + n
			}
			nad := nads[n]
			if nad == nil {
				t.Errorf("%s: network %s: no such NetworkAttachmentDefinition", p.where, n)
				continue
			}
			res := corev1.ResourceName(nad.Annotations[resourceAnnotation])
			for _, c := range pod.Spec.Containers {
				if _, ok := c.Resources.Limits[res]; ok {
					res = ""
				}
			}
			if res != "" {
				t.Errorf("%s: no container requests %s, so network %s gets no VF", p.where, res, n)
			}
		}
	}
}

// The standalone config declares the deviceID capability and parses once
// a runtime passes it.
func TestStandaloneCNIConfig(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root, "deploy", "cni", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no files in deploy/cni: %v", err)
	}
	for _, f := range files {
		conf, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var caps struct {
			Capabilities map[string]bool `json:"capabilities"`
		}
		if err := json.Unmarshal(conf, &caps); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if _, err := netconf.Parse(conf); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		var withID []byte
		if caps.Capabilities["deviceID"] {
			withID = withKey(t, conf, "runtimeConfig", "deviceID", exampleDeviceID)
		} else {
			withID = conf // then the config must carry its own deviceID
		}
		if _, err := netconf.ParseAdd(withID); err != nil {
			t.Errorf("%s: as ADD gets it: %v", f, err)
		}
	}
}
