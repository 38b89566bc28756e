#!/bin/sh
export CONTINUENT_ROOT=/opt/continuent
export MYSQL_PWD=Sh-Zq9-32
TUNGSTEN_API_PASSWORD='Sh Zq9-33'
declare -x REPL_PASS="Sh-Zq9-34"
mysql --user=root --password=Cmd-Zq9-35 -h db1 -e 'select 1'
mysqladmin -u root --password Cmd-Zq9-36 status
mysql -uroot -p'Cmd Zq9-37' -e "CHANGE MASTER TO MASTER_HOST='db1', MASTER_PASSWORD='Sql-Zq9-38'"
mysql -e "CREATE USER 'tungsten'@'%' IDENTIFIED BY 'Sql-Zq9-39'"
curl -s https://admin:Url-Zq9-40@db1:8090/api/v2/status
