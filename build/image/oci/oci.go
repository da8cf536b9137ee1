package oci

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// Repository is where the image is published (docs/image.md).
	Repository = "ghcr.io/ovn-dpu/ovn-dpu"
	// Version is the image tag and the version stamped into the binaries
	// (pkg/version.Version). Bump it on a release; the manifests in
	// deploy/kubernetes must follow (a test checks).
	Version = "0.1.0"
	// Source is the org.opencontainers.image.source label.
	Source = "https://github.com/ovn-dpu/ovn-dpu"

	// NonRootUID is the image's default user and group (the "nonroot" of
	// /etc/passwd). The agents need root and the DaemonSets say so
	// (runAsUser: 0); anything else run from the image is unprivileged.
	NonRootUID = 65532
	// User is the image config's User.
	User = "65532:65532"
	// PathEnv is the image's only environment variable.
	PathEnv = "PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin"

	// BinDir holds the ovn-dpu binaries; the DaemonSets' command: names
	// them there.
	BinDir = "/usr/local/bin"
	// CNIDir holds the IPAM plugins the host agent's install-cni init
	// container copies to the host's /opt/cni/bin when asked to. Not
	// /opt/cni/bin itself: the host agent container mounts the host's
	// directory there, which would hide the image's.
	CNIDir = "/usr/local/lib/cni"
	// BusyboxPath is the static busybox; /bin/sh and the few tools the
	// DaemonSets' shell steps use are symlinks to it.
	BusyboxPath = "/bin/busybox"
	// BusyboxCopyright is busybox's license file (GPL-2.0), shipped with it.
	BusyboxCopyright = "/usr/share/doc/busybox-static/copyright"
)

// Name is the image reference for a version: Repository:version.
func Name(version string) string { return Repository + ":" + version }

// Platforms are the image's platforms: hosts are x86, DPUs Arm.
var Platforms = []v1.Platform{
	{OS: "linux", Architecture: "amd64"},
	{OS: "linux", Architecture: "arm64"},
}

// Binary is a Go main package and where its binary goes in the image.
type Binary struct {
	Package string // as given to go build, relative to the module root
	Path    string // absolute path in the image
}

// Binaries are the Go programs in the image. The IPAM plugins are the
// module's pinned github.com/containernetworking/plugins (go.mod tool
// directives), the ones the tests run.
var Binaries = []Binary{
	{"./cni", BinDir + "/ovn-dpu-cni"},
	{"./host-agent", BinDir + "/ovn-dpu-host-agent"},
	{"./dpu-agent", BinDir + "/ovn-dpu-agent"},
	{"github.com/containernetworking/plugins/plugins/ipam/host-local", CNIDir + "/host-local"},
	{"github.com/containernetworking/plugins/plugins/ipam/static", CNIDir + "/static"},
}

// BusyboxApplets are linked to busybox in /bin: the shell of the
// install-cni init container and of deploy/README.md's per-DPU-address
// wrapper, and the tools they run.
var BusyboxApplets = []string{"cat", "chmod", "cp", "echo", "ln", "ls", "mkdir", "mv", "rm", "sh", "test"}

// Passwd and Group are the image's /etc/passwd and /etc/group: root, and
// the unprivileged default user.
var (
	Passwd = fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/nonexistent:/sbin/nologin\n", NonRootUID, NonRootUID)
	Group  = fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", NonRootUID)
)

// Options are the inputs of one image build; equal Options (and equal
// file contents) give equal digests.
type Options struct {
	Version  string
	Revision string    // source commit, the revision label; may be empty
	Created  time.Time // config created, history and every file's mtime
	// Files maps each architecture of Platforms to the host files to put
	// in its image: image path (Binaries' paths, BusyboxPath,
	// BusyboxCopyright) → file on this machine. Every Binaries path and
	// BusyboxPath are required.
	Files map[string]map[string]string
}

// Labels are the image config's labels, also the index's annotations.
func Labels(version, revision string) map[string]string {
	l := map[string]string{
		"org.opencontainers.image.source":      Source,
		"org.opencontainers.image.version":     version,
		"org.opencontainers.image.title":       "ovn-dpu",
		"org.opencontainers.image.description": "ovn-dpu host agent, DPU agent and CNI plugin",
	}
	if revision != "" {
		l["org.opencontainers.image.revision"] = revision
	}
	return l
}

// Cmd is the image's default command (there is no Entrypoint): it prints
// the version and exits. The DaemonSets always set command:, so no
// deployment relies on it; an image run without one does nothing harmful.
var Cmd = []string{BinDir + "/ovn-dpu-host-agent", "--version"}

// Build assembles the image index. It checks every file it takes from
// Options.Files: executables must be static ELF binaries of the image's
// architecture.
func Build(o Options) (v1.ImageIndex, error) {
	if o.Version == "" {
		return nil, fmt.Errorf("no version")
	}
	created := v1.Time{Time: o.Created.UTC().Truncate(time.Second)}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var adds []mutate.IndexAddendum
	for _, p := range Platforms {
		files, ok := o.Files[p.Architecture]
		if !ok {
			return nil, fmt.Errorf("no files for %s", p.Architecture)
		}
		img, err := buildImage(o, p, created, files)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", p.OS, p.Architecture, err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	idx = mutate.AppendManifests(idx, adds...)
	return mutate.Annotations(idx, Labels(o.Version, o.Revision)).(v1.ImageIndex), nil
}

func buildImage(o Options, p v1.Platform, created v1.Time, files map[string]string) (v1.Image, error) {
	entries, err := Entries(p.Architecture, files)
	if err != nil {
		return nil, err
	}
	tarball, err := Tar(entries, created.Time)
	if err != nil {
		return nil, err
	}
	layer, err := layerFromBytes(tarball)
	if err != nil {
		return nil, err
	}
	cf := &v1.ConfigFile{
		Architecture: p.Architecture,
		OS:           p.OS,
		Created:      created,
		Config: v1.Config{
			User:       User,
			Env:        []string{PathEnv},
			Cmd:        Cmd,
			WorkingDir: "/",
			Labels:     Labels(o.Version, o.Revision),
		},
		RootFS: v1.RootFS{Type: "layers"},
	}
	img, err := mutate.ConfigFile(empty.Image, cf)
	if err != nil {
		return nil, err
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	return mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   created,
			CreatedBy: "ovn-dpu build/image " + o.Version,
			Comment:   "ovn-dpu binaries, IPAM plugins, busybox",
		},
	})
}

func layerFromBytes(b []byte) (v1.Layer, error) {
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// Entry is one file, directory or symlink of the layer.
type Entry struct {
	Name     string // without the leading slash, as in the tar
	Type     byte   // tar.TypeReg, tar.TypeDir or tar.TypeSymlink
	Mode     int64  // permission bits (and sticky)
	Linkname string // for symlinks
	Data     []byte // for regular files
}

// Entries lists the layer's contents for one architecture, sorted by name,
// with every parent directory. files is Options.Files for that
// architecture.
func Entries(arch string, files map[string]string) ([]Entry, error) {
	byName := map[string]Entry{}
	add := func(e Entry) {
		for d := path.Dir(e.Name); d != "."; d = path.Dir(d) {
			if _, ok := byName[d]; !ok {
				byName[d] = Entry{Name: d, Type: tar.TypeDir, Mode: 0o755}
			}
		}
		byName[e.Name] = e
	}
	addFile := func(imagePath string, mode int64, elfArch string) error {
		host, ok := files[imagePath]
		if !ok {
			return fmt.Errorf("missing %s", imagePath)
		}
		data, err := os.ReadFile(host)
		if err != nil {
			return err
		}
		if elfArch != "" {
			if err := CheckELF(data, elfArch); err != nil {
				return fmt.Errorf("%s (%s): %w", imagePath, host, err)
			}
		}
		add(Entry{Name: strings.TrimPrefix(imagePath, "/"), Type: tar.TypeReg, Mode: mode, Data: data})
		return nil
	}
	known := map[string]bool{BusyboxPath: true, BusyboxCopyright: true}
	for _, b := range Binaries {
		known[b.Path] = true
		if err := addFile(b.Path, 0o755, arch); err != nil {
			return nil, err
		}
	}
	if err := addFile(BusyboxPath, 0o755, arch); err != nil {
		return nil, err
	}
	if _, ok := files[BusyboxCopyright]; ok {
		if err := addFile(BusyboxCopyright, 0o644, ""); err != nil {
			return nil, err
		}
	}
	for p := range files {
		if !known[p] {
			return nil, fmt.Errorf("unexpected file %s", p)
		}
	}
	for _, a := range BusyboxApplets {
		add(Entry{Name: "bin/" + a, Type: tar.TypeSymlink, Mode: 0o777, Linkname: "busybox"})
	}
	add(Entry{Name: "etc/passwd", Type: tar.TypeReg, Mode: 0o644, Data: []byte(Passwd)})
	add(Entry{Name: "etc/group", Type: tar.TypeReg, Mode: 0o644, Data: []byte(Group)})
	add(Entry{Name: "root", Type: tar.TypeDir, Mode: 0o700})
	add(Entry{Name: "run", Type: tar.TypeDir, Mode: 0o755})
	add(Entry{Name: "tmp", Type: tar.TypeDir, Mode: 0o1777})
	// The host agent's DaemonSet mounts the host's /var/run/netns and
	// relies on /run/netns/... paths resolving to it.
	add(Entry{Name: "var/run", Type: tar.TypeSymlink, Mode: 0o777, Linkname: "../run"})

	out := make([]Entry, 0, len(byName))
	for _, e := range byName {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Tar writes entries (in their order) as an uncompressed tar: owner
// root:root, mtime mtime, no access or change times, USTAR format.
func Tar(entries []Entry, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Typeflag: e.Type,
			Name:     e.Name,
			Linkname: e.Linkname,
			Mode:     e.Mode,
			ModTime:  mtime.UTC().Truncate(time.Second),
			Uname:    "root",
			Gname:    "root",
			Format:   tar.FormatUSTAR,
		}
		if e.Type == tar.TypeDir {
			h.Name += "/"
		}
		if e.Type == tar.TypeReg {
			h.Size = int64(len(e.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name, err)
		}
		if _, err := tw.Write(e.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
