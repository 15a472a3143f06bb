"""The cache of built derivatives: keyed by code object identity, checked by guards, weak and bounded.

A derivative is reused for a call only if it was built from the same code object (compared by
identity, so an identical function in another module or after `importlib.reload` gets its own),
for the same module globals and specialisation, and every guard of its build still holds (the
globals, attribute paths and rules it resolved are the same objects). A code object that is
garbage-collected drops its entries, and at most `limit` derivatives are kept (least recently
built first out).
"""
import collections
import threading
import weakref


class DerivativeCache:
    def __init__(self, limit=1024):
        self.limit = limit
        self._codes = {}
        self._order = collections.OrderedDict()
        self._lock = threading.RLock()

    def lookup(self, code, global_names, key):
        """The cached value for `(code, key)` if it is still valid, else None."""
        slot = self._codes.get(id(code))
        if slot is None or slot[0]() is not code:
            return None
        entry = slot[1].get(key)
        if entry is None or entry.global_names is not global_names or not entry.guards.hold():
            return None
        return entry

    def get(self, code, global_names, key, build):
        """The valid cached value for `(code, key)`, built (once, under a lock) when there is none."""
        entry = self.lookup(code, global_names, key)
        if entry is not None:
            return entry
        with self._lock:
            entry = self.lookup(code, global_names, key)
            if entry is None:
                entry = build()
                self._store(code, key, entry)
            return entry

    def _store(self, code, key, entry):
        slot = self._codes.get(id(code))
        if slot is None or slot[0]() is not code:
            slot = self._codes[id(code)] = (weakref.ref(code, self._forgetter(id(code))), {})
        slot[1][key] = entry
        self._order[(id(code), key)] = None
        self._order.move_to_end((id(code), key))
        while len(self._order) > self.limit:
            (code_id, old_key), _ = self._order.popitem(last=False)
            entries = self._codes.get(code_id, (None, {}))[1]
            entries.pop(old_key, None)

    def _forgetter(self, code_id):
        def forget(reference):
            with self._lock:
                slot = self._codes.get(code_id)
                if slot is not None and slot[0] is reference:
                    del self._codes[code_id]
                    for key in [k for k in self._order if k[0] == code_id]:
                        del self._order[key]

        return forget

    def clear(self):
        with self._lock:
            self._codes.clear()
            self._order.clear()

    def __len__(self):
        return sum(len(entries) for _, entries in self._codes.values())
