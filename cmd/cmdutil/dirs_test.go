package cmdutil

import (
	"path/filepath"
	"testing"
)

func TestDirs(t *testing.T) {
	env := func(kv map[string]string) LookupEnv {
		return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
	}
	cases := []struct {
		name    string
		env     map[string]string
		dir     func(LookupEnv) (string, error)
		want    string
		wantErr bool
	}{
		{"config from XDG", map[string]string{"XDG_CONFIG_HOME": "/x/config", "HOME": "/home/ada"}, ConfigDir, "/x/config", false},
		{"config from HOME", map[string]string{"HOME": "/home/ada"}, ConfigDir, "/home/ada/.config", false},
		{"relative XDG is ignored", map[string]string{"XDG_CONFIG_HOME": "rel", "HOME": "/home/ada"}, ConfigDir, "/home/ada/.config", false},
		{"cache from XDG", map[string]string{"XDG_CACHE_HOME": "/x/cache"}, CacheDir, "/x/cache", false},
		{"cache from HOME", map[string]string{"HOME": "/home/ada"}, CacheDir, "/home/ada/.cache", false},
		{"data from XDG", map[string]string{"XDG_DATA_HOME": "/x/data"}, DataDir, "/x/data", false},
		{"data from HOME", map[string]string{"HOME": "/home/ada"}, DataDir, filepath.Join("/home/ada", ".local", "share"), false},
		{"nothing set", nil, DataDir, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			have, err := c.dir(env(c.env))
			if (err != nil) != c.wantErr || have != c.want {
				t.Errorf("want %q (error %v), have %q, %v", c.want, c.wantErr, have, err)
			}
		})
	}
}
