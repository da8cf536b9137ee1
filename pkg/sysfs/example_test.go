package sysfs_test

import (
	"fmt"
	"net"
	"os"

	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs"
	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs/sysfstest"
)

func ExampleReader_LookupVF() {
	dir, err := os.MkdirTemp("", "sysfs")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	tree := sysfstest.NewTree(dir)
	pfMAC, _ := net.ParseMAC("0C:42:A1:00:00:01")
	if err := tree.AddPF("0000:03:00.0", "enp3s0f0", pfMAC); err != nil {
		panic(err)
	}
	if err := tree.AddVF("0000:03:00.0", "0000:03:00.3", 1, "enp3s0f0v1", nil, "mlx5_core"); err != nil {
		panic(err)
	}

	r := sysfs.New(tree.Root()) // sysfs.New("") on a real host
	vf, err := r.LookupVF("03:00.3")
	fmt.Println(vf.Netdev, vf.PFNetdev, vf.PFMAC, vf.VFIndex, err)
	// Output: enp3s0f0v1 enp3s0f0 0c:42:a1:00:00:01 1 <nil>
}
