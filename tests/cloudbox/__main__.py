"""python -m tests.cloudbox start aws --env-file FILE | vms --env-file FILE | stop --env-file FILE"""

from tests.cloudbox.cli import main

main()
