// Package schemas_test checks the libovsdb models of pkg/ovsdb, generated
// from OVN 23.03's schemas, against the newer OVN releases' schemas stored
// beside this file (README.md says where each comes from). A client
// connecting to a newer server makes the same check, model.NewDatabaseModel
// on the server's schema, and refuses to start when it fails.
package schemas_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/nbdb"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/sbdb"
)

// releases and the schema versions their files declare (README.md).
var releases = []struct{ release, nb, sb string }{
	{"24.03", "7.3.0", "20.33.0"},
	{"24.09", "7.6.0", "20.37.0"},
	{"25.03", "7.11.0", "20.41.0"},
}

func TestModelsAcceptNewerSchemas(t *testing.T) {
	for _, r := range releases {
		t.Run(r.release, func(t *testing.T) {
			for _, db := range []struct {
				file, name, version string
				model               func() (model.ClientDBModel, error)
			}{
				{"ovn-nb.ovsschema", "OVN_Northbound", r.nb, nbdb.FullDatabaseModel},
				{"ovn-sb.ovsschema", "OVN_Southbound", r.sb, sbdb.FullDatabaseModel},
			} {
				schema := load(t, filepath.Join(r.release, db.file))
				if schema.Name != db.name || schema.Version != db.version {
					t.Errorf("%s/%s is %s %s, want %s %s", r.release, db.file, schema.Name, schema.Version, db.name, db.version)
				}
				client, err := db.model()
				if err != nil {
					t.Fatal(err)
				}
				if _, errs := model.NewDatabaseModel(schema, client); len(errs) > 0 {
					t.Errorf("%s/%s: our %s model does not fit: %v", r.release, db.file, db.name, errs)
				}
			}
		})
	}
}

func load(t *testing.T, path string) ovsdb.DatabaseSchema {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s ovsdb.DatabaseSchema
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}
