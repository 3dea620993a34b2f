# Engine: dispatch of events to rules, alerts, derived-event routing.
libcepd_a_SOURCES +=
