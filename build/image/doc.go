// Command image builds the ovn-dpu OCI image layout (`make image`):
// cross-compiles the binaries for linux/amd64 and linux/arm64, assembles
// the multi-arch image with build/image/oci and writes it as an OCI image
// layout directory, then prints the image name and the index digest.
//
//	go run ./build/image --out=bin/image --busybox-dir=bin/image-deps
//
// --busybox-dir holds busybox-amd64 and busybox-arm64 (static), and
// optionally busybox-copyright; build/image/fetch-busybox.sh puts Debian's
// there. SOURCE_DATE_EPOCH (or --created) fixes the creation time; the
// Makefile sets it to the last commit's time. See docs/image.md.
package main
