package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// notApplied are the files of deploy/kubernetes that `kubectl apply -k`
// leaves out, each for a reason docs/install-kubernetes.md repeats.
var notApplied = map[string]string{
	"secrets.example.yaml":               "placeholders: the real Secrets are created from certificate files",
	"sriov-device-plugin-configmap.yaml": "the SR-IOV device plugin's config, in kube-system: edited per site and applied with the device plugin",
	"network-attachment-definition.yaml": "an example network and pod, applied once the logical switch exists",
}

func loadKustomization(t *testing.T) *kustypes.Kustomization {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(manifestDir, kustomizationFile))
	if err != nil {
		t.Fatal(err)
	}
	var k kustypes.Kustomization
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		t.Fatalf("deploy/kubernetes/%s: %v", kustomizationFile, err)
	}
	if k.APIVersion != kustypes.KustomizationVersion || k.Kind != kustypes.KustomizationKind {
		t.Errorf("deploy/kubernetes/%s: %s/%s; want %s/%s", kustomizationFile, k.APIVersion, k.Kind, kustypes.KustomizationVersion, kustypes.KustomizationKind)
	}
	return &k
}

// generic is an object as plain JSON values, keyed by kind, namespace and
// name, so that renderings compare whatever their order and formatting.
type generic map[string]any

func genericObjects(t *testing.T, what string, docs [][]byte) map[string]generic {
	t.Helper()
	out := map[string]generic{}
	for _, d := range docs {
		var g generic
		if err := yaml.Unmarshal(d, &g); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		md, _ := g["metadata"].(map[string]any)
		id := g["apiVersion"].(string) + "/" + g["kind"].(string) + " " + str(md["namespace"]) + "/" + str(md["name"])
		if _, dup := out[id]; dup {
			t.Errorf("%s: %s twice", what, id)
		}
		out[id] = g
	}
	return out
}

func str(v any) string { s, _ := v.(string); return s }

func TestKustomization(t *testing.T) {
	k := loadKustomization(t)
	entries, err := os.ReadDir(manifestDir)
	if err != nil {
		t.Fatal(err)
	}
	// Every manifest is applied or left out on purpose.
	var want [][]byte
	for _, e := range entries {
		name := e.Name()
		if name == kustomizationFile || e.IsDir() {
			continue
		}
		_, skip := notApplied[name]
		listed := slices.Contains(k.Resources, name)
		switch {
		case listed && skip:
			t.Errorf("%s lists %s, which is not to be applied: %s", kustomizationFile, name, notApplied[name])
		case !listed && !skip:
			t.Errorf("%s does not list %s: add it to resources, or to notApplied here with the reason", kustomizationFile, name)
		case listed:
			for _, o := range loadFile(t, name) {
				want = append(want, o.raw)
			}
		}
	}
	for _, r := range k.Resources {
		if _, err := os.Stat(filepath.Join(manifestDir, r)); err != nil {
			t.Errorf("%s: resource %s: %v", kustomizationFile, r, err)
		}
	}
	for name := range notApplied {
		if _, err := os.Stat(filepath.Join(manifestDir, name)); err != nil {
			t.Errorf("notApplied names %s: %v", name, err)
		}
	}
	wantObjs := genericObjects(t, "the listed files", want)

	// The kustomize library, as `kubectl apply -k` embeds it.
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), manifestDir)
	if err != nil {
		t.Fatalf("kustomize build deploy/kubernetes: %v", err)
	}
	lib, err := rm.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	libDocs, err := splitYAML(lib)
	if err != nil {
		t.Fatal(err)
	}
	libObjs := genericObjects(t, "kustomize library", libDocs)
	compareRenderings(t, "kustomize library", libObjs, "the listed files", wantObjs)
	// What it renders decodes strictly too.
	for _, d := range libDocs {
		if _, _, err := decodeStrict(d); err != nil {
			t.Errorf("kustomize library output: %v", err)
		}
	}

	// kubectl's own kustomize, when there is a kubectl.
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		// Not required, even in CI: the library is what kubectl embeds.
		t.Log("no kubectl on PATH: compared the kustomize library's rendering only")
		return
	}
	out, err := exec.Command(kubectl, "kustomize", manifestDir).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("kubectl kustomize deploy/kubernetes: %v\n%s", err, stderr)
	}
	kDocs, err := splitYAML(out)
	if err != nil {
		t.Fatal(err)
	}
	compareRenderings(t, "kubectl kustomize", genericObjects(t, "kubectl kustomize", kDocs), "kustomize library", libObjs)
}

func compareRenderings(t *testing.T, gotWhat string, got map[string]generic, wantWhat string, want map[string]generic) {
	t.Helper()
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			t.Errorf("%s lacks %s, which %s has", gotWhat, id, wantWhat)
			continue
		}
		if !reflect.DeepEqual(g, w) {
			gj, _ := json.MarshalIndent(g, "", " ")
			wj, _ := json.MarshalIndent(w, "", " ")
			t.Errorf("%s renders %s differently from %s:\n%s\nwant:\n%s", gotWhat, id, wantWhat, gj, wj)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("%s has %s, which %s has not", gotWhat, id, wantWhat)
		}
	}
}
