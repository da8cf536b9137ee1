package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

var manifestDir = filepath.Join(root, "deploy", "kubernetes")

// kustomizationFile is the kustomization `kubectl apply -k` reads.
const kustomizationFile = "kustomization.yaml"

// kinds are the objects the manifests may hold, each with the type that
// owns it. A kind not listed here fails the test: add its type first.
var kinds = map[string]func() any{
	"v1/Namespace":                      func() any { return &corev1.Namespace{} },
	"v1/ServiceAccount":                 func() any { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":                      func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                         func() any { return &corev1.Secret{} },
	"v1/Pod":                            func() any { return &corev1.Pod{} },
	"apps/v1/DaemonSet":                 func() any { return &appsv1.DaemonSet{} },
	"rbac.authorization.k8s.io/v1/Role": func() any { return &rbacv1.Role{} },
	"rbac.authorization.k8s.io/v1/RoleBinding":        func() any { return &rbacv1.RoleBinding{} },
	"rbac.authorization.k8s.io/v1/ClusterRole":        func() any { return &rbacv1.ClusterRole{} },
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding": func() any { return &rbacv1.ClusterRoleBinding{} },
	"k8s.cni.cncf.io/v1/NetworkAttachmentDefinition":  func() any { return &nadv1.NetworkAttachmentDefinition{} },
}

// object is one document of a manifest, decoded.
type object struct {
	where string // file#doc
	file  string // base name
	kind  string // apiVersion/kind
	meta  metav1.Object
	obj   any    // *corev1.ConfigMap, *appsv1.DaemonSet, ...
	raw   []byte // the document, for generic comparisons
}

func (o object) id() string {
	return o.kind + " " + o.meta.GetNamespace() + "/" + o.meta.GetName()
}

// splitYAML splits a multi-document YAML stream the way kubectl does,
// dropping documents that hold nothing but comments.
func splitYAML(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		var v any
		if err := yaml.Unmarshal(doc, &v); err != nil {
			return nil, err
		}
		if v != nil {
			docs = append(docs, doc)
		}
	}
}

// decodeStrict decodes one document into the type its kind names;
// unknown and duplicate fields are errors.
func decodeStrict(doc []byte) (string, any, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return "", nil, err
	}
	kind := tm.APIVersion + "/" + tm.Kind
	mk, ok := kinds[kind]
	if !ok {
		return kind, nil, fmt.Errorf("kind %q is unknown to this test: add its API type to kinds", kind)
	}
	obj := mk()
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return kind, nil, fmt.Errorf("%s: %w", kind, err)
	}
	return kind, obj, nil
}

// loadManifests decodes every file of deploy/kubernetes but the
// kustomization. Any other file name than *.yaml fails.
func loadManifests(t *testing.T) []object {
	t.Helper()
	entries, err := os.ReadDir(manifestDir)
	if err != nil {
		t.Fatal(err)
	}
	var objs []object
	for _, e := range entries {
		name := e.Name()
		switch {
		case e.IsDir():
			t.Errorf("%s/%s: a directory; the test reads only files of deploy/kubernetes", manifestDir, name)
			continue
		case name == kustomizationFile:
			continue
		case filepath.Ext(name) != ".yaml":
			t.Errorf("deploy/kubernetes/%s: not a .yaml manifest", name)
			continue
		}
		objs = append(objs, loadFile(t, name)...)
	}
	if len(objs) == 0 {
		t.Fatal("no manifests in deploy/kubernetes")
	}
	return objs
}

func loadFile(t *testing.T, name string) []object {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(manifestDir, name))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := splitYAML(data)
	if err != nil {
		t.Fatalf("deploy/kubernetes/%s: %v", name, err)
	}
	if len(docs) == 0 {
		t.Errorf("deploy/kubernetes/%s: no objects", name)
	}
	var objs []object
	for i, doc := range docs {
		where := fmt.Sprintf("deploy/kubernetes/%s#%d", name, i+1)
		kind, obj, err := decodeStrict(doc)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		m, err := metaOf(obj)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		if m.GetName() == "" {
			t.Errorf("%s: %s without metadata.name", where, kind)
		}
		objs = append(objs, object{where: where, file: name, kind: kind, meta: m, obj: obj, raw: doc})
	}
	return objs
}

func metaOf(obj any) (metav1.Object, error) {
	if m, ok := obj.(metav1.Object); ok {
		return m, nil
	}
	return nil, fmt.Errorf("%T has no ObjectMeta", obj)
}

func TestManifestsDecodeStrictly(t *testing.T) {
	objs := loadManifests(t)
	seen := map[string]string{}
	for _, o := range objs {
		if prev, dup := seen[o.id()]; dup {
			t.Errorf("%s: %s already defined in %s", o.where, o.id(), prev)
		}
		seen[o.id()] = o.where
		if ns := o.meta.GetNamespace(); ns == "" && o.kind != "v1/Namespace" &&
			!strings.HasPrefix(o.kind, "rbac.authorization.k8s.io/v1/Cluster") {
			t.Errorf("%s: %s without a namespace: it would land in whatever namespace kubectl defaults to", o.where, o.id())
		}
	}
}

// The decoder must refuse what the API server would silently drop.
func TestDecodeStrictRefusesUnknownFields(t *testing.T) {
	for _, doc := range []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndatta: {a: b}\n",
		"apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      hostNetwrok: true\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\ndata: {c: d}\n",
		"apiVersion: v1\nkind: Service\nmetadata: {name: x}\n",
	} {
		if _, _, err := decodeStrict([]byte(doc)); err == nil {
			t.Errorf("decodeStrict accepted:\n%s", doc)
		}
	}
	docs, err := splitYAML([]byte("# c\n---\na: 1\n---\n# only a comment\n---\nb: 2\n"))
	if err != nil || len(docs) != 2 {
		t.Errorf("splitYAML: %d documents, %v; want 2", len(docs), err)
	}
}
