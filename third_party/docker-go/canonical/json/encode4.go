// Split from encode.go (upstream file too long for this repository); code unchanged.

package json

import (
	"reflect"
	"sort"
	"sync"
)

var fieldCache struct {
	sync.RWMutex
	m map[reflect.Type]*fields
}

// cachedTypeFields is like typeFields but uses a cache to avoid repeated work.
func cachedTypeFields(t reflect.Type, canonical bool) []field {
	fieldCache.RLock()
	x := fieldCache.m[t]
	fieldCache.RUnlock()

	// keyrite patch: the byName list for canonical encoding (upstream
	// overwrote it with byIndex, a bug it never hit because of the next).
	var f []field
	if x != nil {
		if canonical {
			f = x.byName
		} else {
			f = x.byIndex
		}
	}
	if f != nil {
		return f
	}

	// Compute fields without lock.
	// Might duplicate effort but won't hold other computations back.
	f = typeFields(t)
	if f == nil {
		f = []field{}
	}
	if !canonical {
		sort.Sort(byIndex(f))
	}

	fieldCache.Lock()
	if fieldCache.m == nil {
		fieldCache.m = map[reflect.Type]*fields{}
	}
	// keyrite patch: the entry is stored (upstream never stored it, so
	// every decoded object recomputed its type's fields). An entry, once
	// in the map, is never changed: readers use it after RUnlock, so an
	// update replaces it with a copy.
	nx := new(fields)
	if old := fieldCache.m[t]; old != nil {
		*nx = *old
	}
	if canonical {
		nx.byName = f
	} else {
		nx.byIndex = f
	}
	fieldCache.m[t] = nx
	fieldCache.Unlock()
	return f
}
