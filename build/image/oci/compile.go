package oci

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
)

// VersionVar is the linker variable holding the version (pkg/version).
const VersionVar = "github.com/ovn-dpu/ovn-dpu/pkg/version.Version"

// LDFlags are the linker flags of every binary in the image: no symbol
// table or DWARF, and the version.
func LDFlags(version string) string {
	return "-s -w -X " + VersionVar + "=" + version
}

// Compile cross-compiles bins for linux/arch into out (one go build, so
// packages build in parallel and the build cache is shared with other
// builds) and returns image path → binary, as Options.Files wants. dir is
// the module root. The build is static (CGO_ENABLED=0), -trimpath and
// -buildvcs=false; the architecture levels are pinned so that a GOAMD64 or
// GOARM64 in the caller's environment does not change the result.
func Compile(ctx context.Context, dir, out, arch, version string, bins []Binary) (map[string]string, error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags=" + LDFlags(version), "-o", out + string(filepath.Separator)}
	files := map[string]string{}
	seen := map[string]string{}
	for _, b := range bins {
		name := path.Base(b.Package)
		if other, ok := seen[name]; ok {
			return nil, fmt.Errorf("%s and %s both build %s", other, b.Package, name)
		}
		seen[name] = b.Package
		args = append(args, b.Package)
		files[b.Path] = filepath.Join(out, name)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch,
		"GOAMD64=v1", "GOARM64=v8.0", "GOFLAGS=-mod=readonly", "GOEXPERIMENT=")
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build for linux/%s: %w\n%s", arch, err, stderr.Bytes())
	}
	return files, nil
}

// Machines maps an image architecture to its ELF machine.
var Machines = map[string]elf.Machine{
	"amd64": elf.EM_X86_64,
	"arm64": elf.EM_AARCH64,
}

// CheckELF checks that data is a 64-bit little-endian ELF executable for
// arch, statically linked (no PT_INTERP program header, no dynamic
// section).
func CheckELF(data []byte, arch string) error {
	want, ok := Machines[arch]
	if !ok {
		return fmt.Errorf("unknown architecture %q", arch)
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("not an ELF file: %w", err)
	}
	defer f.Close()
	if f.Machine != want {
		return fmt.Errorf("ELF machine %s, want %s", f.Machine, want)
	}
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB {
		return fmt.Errorf("ELF %s %s, want 64-bit little-endian", f.Class, f.Data)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("ELF type %s, not an executable", f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			return fmt.Errorf("dynamically linked (%s)", p.Type)
		}
	}
	return nil
}
