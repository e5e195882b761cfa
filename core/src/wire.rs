//! The wire format of `POST /api/event` (see `docs/wire-format.md`): the loose DTO and its
//! validation into typed values.
