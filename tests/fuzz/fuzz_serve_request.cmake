# fuzz_serve_request: the service's request parsers (host/serve/request.c, infer.c, models.c: pure code,
# no HTTP library), instrumented with the target, and jansson.
pkg_check_modules(AFX_FUZZ_JANSSON REQUIRED IMPORTED_TARGET jansson)
target_sources(fuzz_serve_request PRIVATE ${PROJECT_SOURCE_DIR}/host/serve/request.c
  ${PROJECT_SOURCE_DIR}/host/serve/infer.c ${PROJECT_SOURCE_DIR}/host/serve/models.c)
target_include_directories(fuzz_serve_request PRIVATE ${PROJECT_SOURCE_DIR}/host/serve)
target_link_libraries(fuzz_serve_request PRIVATE PkgConfig::AFX_FUZZ_JANSSON)
