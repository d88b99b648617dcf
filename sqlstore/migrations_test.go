package sqlstore

import (
	"testing"
	"testing/fstest"
)

func TestReadMigrations(t *testing.T) {
	tests := []struct {
		name  string
		files fstest.MapFS
		want  []int // the versions, in order; nil for an error
	}{
		{"ordered by version", fstest.MapFS{"0010_b.sql": {}, "0002_a.sql": {}}, []int{2, 10}},
		{"no version", fstest.MapFS{"init.sql": {}}, nil},
		{"version zero", fstest.MapFS{"0000_init.sql": {}}, nil},
		{"duplicate version", fstest.MapFS{"0001_a.sql": {}, "1_b.sql": {}}, nil},
		{"not sql", fstest.MapFS{"0001_init.txt": {}}, nil},
		{"a folder", fstest.MapFS{"0001_a.sql/x": {}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := ReadMigrations(tc.files)
			if (err == nil) != (tc.want != nil) {
				t.Fatalf("ReadMigrations: %v, want versions %v", err, tc.want)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.Version)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("versions %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("versions %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestCheckNotNewer(t *testing.T) {
	ms := []Migration{{Version: 1}, {Version: 2}}
	for _, tc := range []struct {
		name   string
		newest int
		ok     bool
	}{
		{"empty database", 0, true},
		{"behind", 1, true},
		{"same", 2, true},
		{"newer", 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckNotNewer(tc.newest, ms); (err == nil) != tc.ok {
				t.Fatalf("CheckNotNewer(%d): %v, want ok=%v", tc.newest, err, tc.ok)
			}
		})
	}
}
