"""The project's own reproduction of Autobahn|Testsuite's fuzzing server (client cases).

The published suite only runs on Python 2, so this package re-implements the *server*
side of its client cases, numbered as Autobahn numbers them, and grades the client the
way Autobahn does (``OK`` / ``NON-STRICT`` / ``FAILED`` / ``INFORMATIONAL`` /
``UNIMPLEMENTED`` for behaviour, plus the close behaviour).

The referee must not share code with the engine it judges: :mod:`.wire` has its own
frame reader/writer, masking and handshake, and nothing here imports ``geventws``
except :mod:`.agent`, the client under test.

Modules:

- :mod:`.wire`    raw frames, masking, the server half of the opening handshake;
- :mod:`.fuzzer`  the fuzzing server: one thread per connection, Autobahn's close
                  bookkeeping (``closedByMe``, ``wasClean``, ``remoteCloseCode``...);
- :mod:`.deflate` the referee's permessage-deflate and Autobahn's negotiation of it;
- :mod:`.payloads` the generated data sets of sections 12 and 13;
- :mod:`.cases`   the cases of sections 1–7, 9, 10, 12, 13 and the grading rules;
- :mod:`.agent`   the standard Autobahn client procedure driven by geventws;
- :mod:`.report`  ``python -m tests.conformance.report``: run all, print a table.
"""
