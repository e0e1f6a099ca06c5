"""Evidence packs: staging, the hash-chained journal, atomic publishing and recovery, the pack
manifest, JUnit and Allure outputs, verification and the offline report page. May import
``core``, ``config``, ``addons``, ``rules`` and ``probes``; never pytest."""
