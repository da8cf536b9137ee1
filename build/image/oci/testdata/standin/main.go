// Command standin stands in for the image's binaries in the oci package's
// test: a static Go binary for the image's architecture, quick to build,
// that prints the version Compile stamps into it.
package main

import (
	"fmt"

	"github.com/ovn-dpu/ovn-dpu/pkg/version"
)

func main() { fmt.Println(version.Version) }
