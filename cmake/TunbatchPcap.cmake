# The one capture reader (tools/pcap_in.c, on libpcap): the CLI reads its
# input with it, the tests and the benchmark load their traces with it.
# tb_pcap_in() defines the static library tb_pcap_in once, for whichever
# of them is configured first.
function(tb_pcap_in)
  if(TARGET tb_pcap_in)
    return()
  endif()
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(PCAP REQUIRED IMPORTED_TARGET GLOBAL libpcap)
  add_library(tb_pcap_in STATIC ${PROJECT_SOURCE_DIR}/tools/pcap_in.c)
  target_include_directories(tb_pcap_in PUBLIC ${PROJECT_SOURCE_DIR}/tools)
  target_link_libraries(tb_pcap_in PUBLIC PkgConfig::PCAP)
endfunction()
