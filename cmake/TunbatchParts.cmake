# The parts built beyond the library, which needs nothing but libc. Each part
# names the pkg-config modules it needs; its cache variable TB_<PART> says
# AUTO (built when they are all found: the default), ON (they are required,
# configuring fails without them) or OFF (left out). The outcome is
# TB_BUILD_<PART>, and one line per part in the summary that configuring
# prints and writes to tunbatch-parts.txt (make prints it after building).
#
#   tb_part(PART "what it is" [MODULES module=debian-package...] [PARTS PART...])
#
# e.g. tb_part(CLI "the CLI" MODULES libpcap=libpcap-dev libcrypto=libssl-dev)

find_package(PkgConfig QUIET)
set(TB_PARTS_SUMMARY "tunbatch: library: built (static and shared, libc only)\n")

function(tb_part part what)
  cmake_parse_arguments(PARSE_ARGV 2 arg "" "" "MODULES;PARTS")
  set(TB_${part} AUTO CACHE STRING "Build ${what}: AUTO (when its packages are found), ON or OFF")
  set_property(CACHE TB_${part} PROPERTY STRINGS AUTO ON OFF)
  string(TOUPPER "${TB_${part}}" want)

  set(why "")
  if(want STREQUAL "OFF" OR (NOT want STREQUAL "AUTO" AND NOT TB_${part}))
    set(why "TB_${part}=OFF")
  else()
    set(unseen "")
    foreach(m IN LISTS arg_MODULES)
      string(REPLACE "=" ";" m "${m}")
      list(GET m 0 module)
      list(GET m 1 deb)
      if(NOT PKG_CONFIG_FOUND)
        list(APPEND unseen ${module})
        continue()
      endif()
      string(MAKE_C_IDENTIFIER "TB_PC_${module}" id)
      pkg_check_modules(${id} QUIET ${module})
      if(NOT ${id}_FOUND)
        list(APPEND why "${module} not found (install ${deb})")
      endif()
    endforeach()
    if(unseen)
      list(JOIN unseen ", " unseen)
      list(APPEND why "pkg-config not found to look for ${unseen} (install pkg-config)")
    endif()
    # A part it needs counts only when its own packages are all here: the
    # missing packages are the useful news.
    if(NOT why)
      foreach(p IN LISTS arg_PARTS)
        if(NOT TB_BUILD_${p})
          list(APPEND why "${TB_PART_WHAT_${p}} not built")
        endif()
      endforeach()
    endif()
    if(why AND NOT want STREQUAL "AUTO")
      list(JOIN why "; " why)
      message(FATAL_ERROR "tunbatch: TB_${part}=${TB_${part}} but ${why}")
    endif()
  endif()

  set(TB_PART_WHAT_${part} "${what}" PARENT_SCOPE)
  if(why)
    list(JOIN why "; " why)
    set(line "tunbatch: ${what} not built: ${why}")
    set(TB_BUILD_${part} OFF PARENT_SCOPE)
  else()
    set(line "tunbatch: ${what}: built")
    set(TB_BUILD_${part} ON PARENT_SCOPE)
  endif()
  message(STATUS "${line}")
  set(TB_PARTS_SUMMARY "${TB_PARTS_SUMMARY}${line}\n" PARENT_SCOPE)
endfunction()
