import sys

from imu_pipeline.cli import main

sys.exit(main())
