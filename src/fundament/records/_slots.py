"""Index slots: a bounded set of shared indexes for every tenant's declared fields.

The records table has ``SLOTS`` nullable jsonb columns ``i0 … i7``, each with one partial
btree index ``(tenant_id, collection, iN) WHERE iN IS NOT NULL``. A collection's declared
index ``indexes[n]`` lives in slot ``n``: every write stores ``fundament_index_key(value)``
there, computed in SQL from the collection row the write already locks, so the mapping and
the data cannot disagree. Collections that declare nothing leave the slots NULL and their
writes touch none of these indexes. See docs/adr/0008-index-slots.md.

``fundament_index_key`` (created by migration 0008) is bounded (strings cut to 200
characters, numbers rounded to 30 decimals and clamped, arrays and objects collapsed to
``[]``/``{}``) and monotone in jsonb's order, so for any values ``a <= b`` it gives
``key(a) <= key(b)``. That makes the slot a safe pre-filter (``v = x`` implies
``key(v) = key(x)``; ``v > x`` implies ``key(v) >= key(x)``) and ``ORDER BY iN, value``
the same order as ``ORDER BY value``. Every query still checks the real value: the slot
only narrows the rows to look at.
"""

from __future__ import annotations

SLOTS = 8

def slot_values_sql(data: str, indexes: str) -> list[str]:
    """SQL for the ``SLOTS`` slot values of document ``data`` under the declared-index
    list ``indexes`` (both SQL expressions; ``indexes`` a jsonb array of dot paths).
    Unused slots are NULL; a declared field that is missing holds JSON ``null``."""
    return [
        f"CASE WHEN jsonb_array_length({indexes}) > {n} THEN"
        f" fundament_index_key({data} #> string_to_array({indexes} ->> {n}, '.')) END"
        for n in range(SLOTS)
    ]


COLUMNS = ", ".join(f"i{n}" for n in range(SLOTS))


def assignments_sql(data: str, indexes: str) -> str:
    """``i0 = …, i1 = …`` for an UPDATE that sets the document to ``data``."""
    return ", ".join(f"i{n} = {v}" for n, v in enumerate(slot_values_sql(data, indexes)))
