// Package oci assembles the ovn-dpu container image: one multi-arch OCI
// image index (linux/amd64 for hosts, linux/arm64 for DPUs) whose images
// each hold one layer with the three ovn-dpu binaries, the IPAM plugins
// the host agent's init container may install, a static busybox for the
// DaemonSets' shell steps, and a minimal /etc/passwd.
//
// It is a build tool, not product code: build/image (package main) is the
// command `make image` runs, and this package holds the logic so that a
// test can build the image and look inside it.
//
// The image is reproducible: the same binaries, version, revision and
// creation time give the same digests. Tar entries are sorted, every file
// has the same owner (root), a fixed mode and the creation time as mtime,
// and nothing of the build machine (paths, users, clock) gets into a layer
// or a config. Compile cross-compiles with -trimpath and -buildvcs=false,
// so the binaries depend only on the source and the Go toolchain.
//
// Name and Version are the one place the image's name is spelled: the
// manifests in deploy/kubernetes reference Name(Version), which a test
// checks. See docs/image.md for the whole picture.
package oci
