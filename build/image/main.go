package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ovn-dpu/ovn-dpu/build/image/oci"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	out := fs.String("out", "bin/image", "OCI layout directory to write (replaced)")
	busybox := fs.String("busybox-dir", "bin/image-deps", "directory with busybox-amd64, busybox-arm64 and optionally busybox-copyright")
	version := fs.String("version", oci.Version, "image tag and binaries' version")
	revision := fs.String("revision", "", "source revision for the org.opencontainers.image.revision label")
	created := fs.Int64("created", -1, "creation time, seconds since the epoch (default: $SOURCE_DATE_EPOCH, else 0)")
	work := fs.String("work-dir", "", "where the binaries are built (default: a temporary directory)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	epoch := *created
	if epoch < 0 {
		epoch = 0
		if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
			var err error
			if epoch, err = strconv.ParseInt(s, 10, 64); err != nil {
				return fmt.Errorf("SOURCE_DATE_EPOCH: %w", err)
			}
		}
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	dir := *work
	if dir == "" {
		if dir, err = os.MkdirTemp("", "ovn-dpu-image-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	opts := oci.Options{Version: *version, Revision: *revision, Created: time.Unix(epoch, 0), Files: map[string]map[string]string{}}
	for _, p := range oci.Platforms {
		arch := p.Architecture
		files, err := oci.Compile(ctx, root, filepath.Join(dir, arch), arch, *version, oci.Binaries)
		if err != nil {
			return err
		}
		files[oci.BusyboxPath] = filepath.Join(*busybox, "busybox-"+arch)
		if c := filepath.Join(*busybox, "busybox-copyright"); exists(c) {
			files[oci.BusyboxCopyright] = c
		}
		opts.Files[arch] = files
	}
	idx, err := oci.Build(opts)
	if err != nil {
		return err
	}
	if err := oci.WriteLayout(*out, idx, *version); err != nil {
		return err
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s\n%s\n", oci.Name(*version), d)
	fmt.Fprintf(os.Stderr, "OCI layout in %s (linux/amd64, linux/arm64); push: crane push %s %s\n", *out, *out, oci.Name(*version))
	return nil
}

// moduleRoot is the directory holding go.mod, from the working directory up.
func moduleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if exists(filepath.Join(d, "go.mod")) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("no go.mod above the working directory")
		}
		d = parent
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
