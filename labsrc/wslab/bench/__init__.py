"""``python -m wslab.bench`` (``make bench``): how fast, how fair, and how big each server is.

Three servers speak the same chat protocol and are measured in the same run, on loopback:

(a) the lecture's ``ConnectionManager`` as written, run with uvicorn's defaults;
(b) ``wslab``, the kit's chat server, run with the kit's uvicorn settings;
(c) the same protocol on bare ``websockets`` with its ``broadcast()``: the reference, with the
    library's defaults, and (c') without compression, for an honest second reference.

What is measured, and why:

- **fan-out**: N receivers, one sender; deliveries per second and p50/p99 delivery latency.
  A chat server's work grows with the number of listeners, not of speakers, so this is the
  number that decides how big a classroom one process can serve;
- **the same with one client that never reads**: a closed laptop must cost the others nothing.
  The lecture's manager awaits each send in turn, so it stalls everyone; wslab drops the
  stalled client instead;
- **memory per idle connection**, with clients offering permessage-deflate as browsers do:
  what a thousand students cost the machine before anyone says a word.

One module per concept: ``wire`` (the client side, on ``wslab.protocol``), ``receivers``
(cheap clients), ``sender``, ``stalled``, ``reference`` (the bare-``websockets`` server),
``servers`` (how each server is run), ``procs`` (child processes and ``/proc``), ``fanout``
and ``memory`` (the two measurements) and ``report`` (tables, ratios, verdicts).
``cross_worker`` is a run of its own (``python -m wslab.bench.cross_worker``, also part of
``make bench``): two workers joined by Redis, same-worker against cross-worker delivery latency.

Every process runs on this machine and talks to 127.0.0.1 only; every loop is bounded in count
and time; every child process is stopped on the way out, also on errors and Ctrl-C.
"""
