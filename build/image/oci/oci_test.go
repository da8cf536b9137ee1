package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	testVersion  = "9.8.7-test"
	testRevision = "0123456789abcdef0123456789abcdef01234567"
)

var testCreated = time.Unix(1700000000, 0)

// moduleRoot is the repository root (this package is build/image/oci).
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatal(err)
	}
	return root
}

// testFiles builds the files of a test image: cross-compiling all five
// binaries for both architectures takes about two minutes with a cold
// build cache on two cores (seconds when warm), so the test compiles one
// real binary, ovn-dpu-cni for arm64 (the cross-compiled DPU side), and a
// tiny static stand-in per architecture for every other file. `make
// image` builds the real set with the same Compile.
func testFiles(t *testing.T) map[string]map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	root, dir := moduleRoot(t), t.TempDir()
	copyright := filepath.Join(dir, "copyright")
	if err := os.WriteFile(copyright, []byte("busybox license stand-in\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	all := map[string]map[string]string{}
	for _, p := range Platforms {
		arch := p.Architecture
		standin, err := Compile(ctx, root, filepath.Join(dir, arch), arch, testVersion,
			[]Binary{{"./build/image/oci/testdata/standin", "/standin"}})
		if err != nil {
			t.Fatal(err)
		}
		files := map[string]string{BusyboxPath: standin["/standin"], BusyboxCopyright: copyright}
		for _, b := range Binaries {
			files[b.Path] = standin["/standin"]
		}
		if arch == "arm64" {
			real, err := Compile(ctx, root, filepath.Join(dir, arch), arch, testVersion, Binaries[:1])
			if err != nil {
				t.Fatal(err)
			}
			files[Binaries[0].Path] = real[Binaries[0].Path]
		}
		all[arch] = files
	}
	return all
}

// copyFiles copies every file to another directory: the image must not
// depend on where its inputs were.
func copyFiles(t *testing.T, in map[string]map[string]string) map[string]map[string]string {
	t.Helper()
	dir := t.TempDir()
	out := map[string]map[string]string{}
	n := 0
	for arch, files := range in {
		out[arch] = map[string]string{}
		for p, host := range files {
			data, err := os.ReadFile(host)
			if err != nil {
				t.Fatal(err)
			}
			n++
			dst := filepath.Join(dir, strings.Repeat("x", n))
			if err := os.WriteFile(dst, data, 0o700); err != nil {
				t.Fatal(err)
			}
			out[arch][p] = dst
		}
	}
	return out
}

func TestImage(t *testing.T) {
	start := time.Now()
	files := testFiles(t)
	t.Logf("compiled in %v", time.Since(start).Round(time.Millisecond))
	opts := Options{Version: testVersion, Revision: testRevision, Created: testCreated, Files: files}

	idx, err := Build(opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "image")
	if err := WriteLayout(dir, idx, testVersion); err != nil {
		t.Fatal(err)
	}

	// Reproducible: a second assembly from copies of the same binaries,
	// elsewhere, later, gives the same bytes.
	opts2 := opts
	opts2.Files = copyFiles(t, files)
	idx2, err := Build(opts2)
	if err != nil {
		t.Fatal(err)
	}
	dir2 := filepath.Join(t.TempDir(), "image")
	if err := WriteLayout(dir2, idx2, testVersion); err != nil {
		t.Fatal(err)
	}
	d1, _ := idx.Digest()
	d2, _ := idx2.Digest()
	if d1 != d2 {
		t.Fatalf("index digests differ: %s vs %s", d1, d2)
	}
	if a, b := treeDigest(t, dir), treeDigest(t, dir2); a != b {
		t.Fatalf("layouts differ:\n%s\nvs\n%s", a, b)
	}
	// Rewriting a layout in place replaces it.
	if err := WriteLayout(dir2, idx2, testVersion); err != nil {
		t.Fatal(err)
	}
	// A directory that is not a layout is left alone.
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "keep"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteLayout(other, idx, testVersion); err == nil {
		t.Fatal("WriteLayout replaced a directory that is not a layout")
	}

	checkLayout(t, dir, d1, files)
}

// treeDigest lists every file of dir with its contents' digest.
func treeDigest(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h, _, _ := v1.SHA256(bytes.NewReader(data))
		rel, _ := filepath.Rel(dir, p)
		lines = append(lines, rel+" "+h.String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func checkLayout(t *testing.T, dir string, want v1.Hash, files map[string]map[string]string) {
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.Manifests) != 1 || tm.Manifests[0].Digest != want || tm.Manifests[0].MediaType != types.OCIImageIndex ||
		tm.Manifests[0].Annotations[RefNameAnnotation] != testVersion {
		t.Fatalf("index.json: %+v, want one OCI index %s named %s", tm.Manifests, want, testVersion)
	}
	idx, err := top.ImageIndex(want)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if im.MediaType != types.OCIImageIndex {
		t.Errorf("index media type %s", im.MediaType)
	}
	if im.Annotations["org.opencontainers.image.version"] != testVersion {
		t.Errorf("index annotations %v", im.Annotations)
	}
	var platforms []string
	for _, m := range im.Manifests {
		if m.Platform == nil {
			t.Fatalf("manifest %s has no platform", m.Digest)
		}
		platforms = append(platforms, m.Platform.String())
		if m.MediaType != types.OCIManifestSchema1 {
			t.Errorf("%s: media type %s", m.Platform, m.MediaType)
		}
		img, err := idx.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		checkImage(t, m.Platform.Architecture, img, files[m.Platform.Architecture])
	}
	if got := strings.Join(platforms, " "); got != "linux/amd64 linux/arm64" {
		t.Fatalf("platforms %q, want exactly linux/amd64 linux/arm64", got)
	}
}

func checkImage(t *testing.T, arch string, img v1.Image, files map[string]string) {
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if cf.Architecture != arch || cf.OS != "linux" || !cf.Created.Time.Equal(testCreated) {
		t.Errorf("%s: config %s/%s created %v", arch, cf.OS, cf.Architecture, cf.Created)
	}
	if c.User != "65532:65532" || len(c.Env) != 1 || !strings.HasPrefix(c.Env[0], "PATH=/usr/local/bin:") ||
		c.Entrypoint != nil || strings.Join(c.Cmd, " ") != "/usr/local/bin/ovn-dpu-host-agent --version" {
		t.Errorf("%s: config user %q env %q entrypoint %q cmd %q", arch, c.User, c.Env, c.Entrypoint, c.Cmd)
	}
	wantLabels := map[string]string{
		"org.opencontainers.image.source":   "https://github.com/ovn-dpu/ovn-dpu",
		"org.opencontainers.image.version":  testVersion,
		"org.opencontainers.image.revision": testRevision,
		"org.opencontainers.image.title":    "ovn-dpu",
	}
	for k, v := range wantLabels {
		if c.Labels[k] != v {
			t.Errorf("%s: label %s = %q, want %q", arch, k, c.Labels[k], v)
		}
	}
	if mt, _ := img.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("%s: manifest media type %s", arch, mt)
	}
	m, _ := img.Manifest()
	if m.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("%s: config media type %s", arch, m.Config.MediaType)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%s: %d layers, %v", arch, len(layers), err)
	}
	if mt, _ := layers[0].MediaType(); mt != types.OCILayer {
		t.Errorf("%s: layer media type %s", arch, mt)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	checkLayer(t, arch, tar.NewReader(rc), files)
}

// wantEntries is the layer's listing: name, type and mode. Binaries are
// checked as ELF besides.
var wantEntries = `
bin/ dir 0755
bin/busybox file 0755
bin/cat -> busybox
bin/chmod -> busybox
bin/cp -> busybox
bin/echo -> busybox
bin/ln -> busybox
bin/ls -> busybox
bin/mkdir -> busybox
bin/mv -> busybox
bin/rm -> busybox
bin/sh -> busybox
bin/test -> busybox
etc/ dir 0755
etc/group file 0644
etc/passwd file 0644
root/ dir 0700
run/ dir 0755
tmp/ dir 1777
usr/ dir 0755
usr/local/ dir 0755
usr/local/bin/ dir 0755
usr/local/bin/ovn-dpu-agent file 0755
usr/local/bin/ovn-dpu-cni file 0755
usr/local/bin/ovn-dpu-host-agent file 0755
usr/local/lib/ dir 0755
usr/local/lib/cni/ dir 0755
usr/local/lib/cni/host-local file 0755
usr/local/lib/cni/static file 0755
usr/share/ dir 0755
usr/share/doc/ dir 0755
usr/share/doc/busybox-static/ dir 0755
usr/share/doc/busybox-static/copyright file 0644
var/ dir 0755
var/run -> ../run
`

func checkLayer(t *testing.T, arch string, tr *tar.Reader, files map[string]string) {
	var got []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(testCreated) || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: %s owner %d:%d mtime %v atime %v ctime %v", arch, h.Name, h.Uid, h.Gid, h.ModTime, h.AccessTime, h.ChangeTime)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			got = append(got, h.Name+" dir "+modeString(h.Mode))
		case tar.TypeSymlink:
			got = append(got, h.Name+" -> "+h.Linkname)
		case tar.TypeReg:
			got = append(got, h.Name+" file "+modeString(h.Mode))
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			checkFile(t, arch, "/"+h.Name, h.Mode, data, files)
		default:
			t.Errorf("%s: %s has type %c", arch, h.Name, h.Typeflag)
		}
	}
	if g, w := strings.Join(got, "\n"), strings.TrimSpace(wantEntries); g != w {
		t.Errorf("%s: layer entries:\n%s\nwant (sorted):\n%s", arch, g, w)
	}
}

func modeString(m int64) string { return fmt.Sprintf("%04o", m) }

func checkFile(t *testing.T, arch, name string, mode int64, data []byte, files map[string]string) {
	switch name {
	case "/etc/passwd":
		if string(data) != Passwd || !strings.Contains(string(data), "nonroot:x:65532:65532:") {
			t.Errorf("%s: /etc/passwd %q", arch, data)
		}
		return
	case "/etc/group":
		if string(data) != Group {
			t.Errorf("%s: /etc/group %q", arch, data)
		}
		return
	}
	host, ok := files[name]
	if !ok {
		t.Errorf("%s: unexpected file %s", arch, name)
		return
	}
	want, err := os.ReadFile(host)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want) {
		t.Errorf("%s: %s differs from %s", arch, name, host)
	}
	if mode&0o111 != 0 {
		if err := CheckELF(data, arch); err != nil {
			t.Errorf("%s: %s: %v", arch, name, err)
		}
	}
	if name != BusyboxPath && strings.HasPrefix(name, BinDir) && !bytes.Contains(data, []byte(testVersion)) {
		t.Errorf("%s: %s does not hold the stamped version %s", arch, name, testVersion)
	}
}

func TestCheckELF(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckELF([]byte("#!/bin/sh\n"), "amd64"); err == nil {
		t.Error("a script passed as ELF")
	}
	// The test binary is built for this machine, with cgo when available:
	// at least one of the two architectures must be refused.
	if CheckELF(data, "amd64") == nil && CheckELF(data, "arm64") == nil {
		t.Error("one binary passed for both architectures")
	}
	if err := CheckELF(data, "riscv64"); err == nil {
		t.Error("unknown architecture accepted")
	}
}

// TestManifestsUseImage checks that deploy/kubernetes references exactly
// the image `make image` builds, and only paths that exist in it.
func TestManifestsUseImage(t *testing.T) {
	manifests, err := filepath.Glob(filepath.Join(moduleRoot(t), "deploy", "kubernetes", "*.yaml"))
	if err != nil || len(manifests) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	imageRe := regexp.MustCompile(`(?m)^\s*(?:-\s*)?image:\s*"?([^"\s#]+)`)
	pathRe := regexp.MustCompile(`/usr/local/(?:bin|lib/cni)/[A-Za-z0-9_$-]+`)
	inImage := map[string]bool{}
	for _, b := range Binaries {
		inImage[b.Path] = true
	}
	refs := 0
	for _, f := range manifests {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range imageRe.FindAllStringSubmatch(string(data), -1) {
			ref := m[1]
			if !strings.HasPrefix(ref, Repository) {
				continue // e.g. the example pod's busybox
			}
			refs++
			if ref != Name(Version) {
				t.Errorf("%s: image %s, want %s (build/image/oci Name(Version))", filepath.Base(f), ref, Name(Version))
			}
		}
		for _, p := range pathRe.FindAllString(string(data), -1) {
			if p == CNIDir+"/$p" { // install-cni's loop over the IPAM plugins
				continue
			}
			if !inImage[p] {
				t.Errorf("%s: %s is not in the image", filepath.Base(f), p)
			}
		}
		if strings.Contains(string(data), "/bin/sh") && !contains(BusyboxApplets, "sh") {
			t.Errorf("%s: runs /bin/sh, which the image lacks", filepath.Base(f))
		}
	}
	if refs < 3 {
		t.Errorf("%d references to %s in deploy/kubernetes, want the host agent's two and the DPU agent's", refs, Repository)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
