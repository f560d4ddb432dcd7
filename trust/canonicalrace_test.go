package trust

import (
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/docker/go/canonical/json"
)

// TestFieldCacheConcurrent: docker/go canonical JSON (keyrite's patched
// copy, third_party/docker-go) decoding and encoding a type for the first
// time on two goroutines at once, as verify does on every core. Each
// round makes a new struct type, so its cache entry is created and then
// updated while the other goroutine reads it: under -race, an entry
// changed in place after it was published is reported.
func TestFieldCacheConcurrent(t *testing.T) {
	for round := range 300 {
		typ := reflect.StructOf([]reflect.StructField{
			{Name: fmt.Sprintf("B%d", round), Type: reflect.TypeOf(""), Tag: `json:"b"`},
			{Name: fmt.Sprintf("A%d", round), Type: reflect.TypeOf(0), Tag: `json:"a"`},
		})
		start := make(chan struct{})
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				v := reflect.New(typ)
				if g%2 == 0 {
					if err := json.Unmarshal([]byte(`{"b":"x","a":1}`), v.Interface()); err != nil {
						t.Error(err)
					}
					return
				}
				v.Elem().Field(0).SetString("x")
				v.Elem().Field(1).SetInt(1)
				if b, err := json.MarshalCanonical(v.Interface()); err != nil || string(b) != `{"a":1,"b":"x"}` {
					t.Errorf("%s %v", b, err)
				}
			}()
		}
		close(start)
		wg.Wait()
	}
}
