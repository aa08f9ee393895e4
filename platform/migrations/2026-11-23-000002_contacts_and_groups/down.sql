DROP TABLE chat.group_members;
DROP TABLE chat.groups;
DROP TABLE chat.contacts;
